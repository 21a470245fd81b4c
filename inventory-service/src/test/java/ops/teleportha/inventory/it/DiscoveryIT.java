package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.AwsClients;
import ops.teleportha.inventory.discovery.Discovery;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.inventory.InventoryService;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.testing.AnsibleJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Discovery against a real moto server: three regions, several groups each, and noise that must not appear. */
class DiscoveryIT {
    static MotoServer moto;
    static World world;
    static List<String> westAuth, westProxy, westProxyB, euProxy, apAuth, lone, otherCluster, nodeGroup;

    @BeforeAll
    static void seed() throws Exception {
        System.setProperty("aws.accessKeyId", World.ACCESS_KEY);
        System.setProperty("aws.secretAccessKey", World.SECRET_KEY);
        moto = MotoServer.start();
        world = new World(moto.endpoint());
        westAuth = world.group("us-west-2", "tp-auth", "tp.example.com", "auth", 3);
        westProxy = world.group("us-west-2", "tp-proxy-a", "tp.example.com", "proxy", 3);
        westProxyB = world.group("us-west-2", "tp-proxy-b", "tp.example.com", "proxy", 2);
        euProxy = world.group("eu-central-1", "tp-proxy", "tp.example.com", "proxy", 3);
        apAuth = world.group("ap-southeast-2", "tp-auth-ap", "tp.example.com", "auth", 1);
        world.group("ap-southeast-2", "tp-proxy-ap", "tp.example.com", "proxy", 2);
        otherCluster = world.group("us-west-2", "other-proxy", "other.example.com", "proxy", 2);
        nodeGroup = world.group("eu-central-1", "tp-nodes", "tp.example.com", "node", 2);
        world.group("eu-central-1", "untagged", null, null, 1);
        lone = world.loneInstances("us-west-2", 3, "tp.example.com");
        world.standby("us-west-2", "tp-proxy-a", westProxy.get(0));
        world.unhealthy("eu-central-1", euProxy.get(1));
    }

    @AfterAll
    static void stop() {
        world.close();
        moto.close();
    }

    static InventoryConfig config(String extra) {
        return new ConfigLoader(Map.of("AWS_ENDPOINT_URL", moto.endpoint()))
                .parse(
                        "it.yml",
                        "cluster: tp.example.com\nregions: [us-west-2, eu-central-1, ap-southeast-2]\n" + extra);
    }

    static JsonNode discover(InventoryConfig c) throws Exception {
        try (AwsClients clients = new AwsClients(c);
                InventoryService s = new InventoryService(
                        c,
                        new Discovery(c, clients, Clock.systemUTC()),
                        new InventoryMetrics("test"),
                        Clock.systemUTC())) {
            InventoryService.Current cur = s.refresh();
            assertThat(cur.error()).isNull();
            return AnsibleJson.plain(
                    InventoryBuilder.JSON.readTree(cur.inventory().inventoryJson()));
        }
    }

    static List<String> hosts(JsonNode inv, String group) {
        List<String> out = new ArrayList<>();
        inv.path(group).path("hosts").forEach(h -> out.add(h.asText()));
        return out;
    }

    @Test
    void findsEveryTeleportGroupInEveryRegionAndNothingElse() throws Exception {
        JsonNode inv = discover(config(""));
        JsonNode hostvars = inv.path("_meta").path("hostvars");
        List<String> all = new ArrayList<>();
        hostvars.fieldNames().forEachRemaining(all::add);
        assertThat(all).hasSize(3 + 3 + 2 + 3 + 1 + 2);
        assertThat(all)
                .doesNotContainAnyElementsOf(lone)
                .doesNotContainAnyElementsOf(otherCluster)
                .doesNotContainAnyElementsOf(nodeGroup);

        assertThat(hosts(inv, "teleport_auth_us_west_2")).containsExactlyInAnyOrderElementsOf(westAuth);
        assertThat(hosts(inv, "teleport_auth_ap_southeast_2")).containsExactlyInAnyOrderElementsOf(apAuth);
        List<String> westReadyProxies = new ArrayList<>(westProxy.subList(1, 3));
        westReadyProxies.addAll(westProxyB);
        assertThat(hosts(inv, "teleport_proxy_us_west_2")).containsExactlyInAnyOrderElementsOf(westReadyProxies);
        assertThat(hosts(inv, "teleport_proxy_eu_central_1")).containsExactlyInAnyOrder(euProxy.get(0), euProxy.get(2));
        assertThat(hosts(inv, "asg_tp_proxy_b")).containsExactlyInAnyOrderElementsOf(westProxyB);
        assertThat(hosts(inv, "teleport_lifecycle_standby")).containsExactly(westProxy.get(0));
        assertThat(hosts(inv, "teleport_lifecycle_unhealthy")).containsExactly(euProxy.get(1));
        assertThat(hosts(inv, "region_eu_central_1")).doesNotContain(euProxy.get(1));

        JsonNode p = hostvars.path(euProxy.get(0));
        assertThat(p.path("aws_region").asText()).isEqualTo("eu-central-1");
        assertThat(p.path("aws_asg_name").asText()).isEqualTo("tp-proxy");
        assertThat(p.path("ansible_host").asText())
                .startsWith("198.18.")
                .isEqualTo(p.path("aws_private_ip").asText());
        assertThat(p.path("teleport_peer_public_addr").asText())
                .isEqualTo(p.path("aws_private_ip").asText() + ":3021");
        assertThat(p.path("ec2_tags").path("TeleportRole").asText()).isEqualTo("proxy");
        assertThat(hostvars.path(westAuth.get(0)).has("teleport_peer_public_addr"))
                .isFalse();
        assertThat(inv.path("all").path("vars").path("teleport_inventory_stale_regions"))
                .isEmpty();
    }

    @Test
    void tagKeysAddressSourceAndTemplatesAreConfigurable() throws Exception {
        JsonNode inv = discover(config("""
                ansible_host:
                  source: instance_id
                host_name_template: "{role}-{region}-{instance_id}"
                peer_addr_template: "{private_ip}:13021"
                """));
        String name = "proxy-eu-central-1-" + euProxy.get(0);
        JsonNode v = inv.path("_meta").path("hostvars").path(name);
        assertThat(v.path("ansible_host").asText()).isEqualTo(euProxy.get(0));
        assertThat(v.path("teleport_peer_public_addr").asText())
                .isEqualTo(v.path("aws_private_ip").asText() + ":13021");
        assertThat(hosts(inv, "teleport_proxy_eu_central_1")).contains(name);
    }

    @Test
    void paginatesThroughLargeGroups() throws Exception {
        // 100 groups first, so the Teleport group is on the second page of DescribeAutoScalingGroups
        // (MaxRecords 100) whether moto orders by name or by creation; 250 members take two
        // DescribeInstances calls (200 ids per instance-id filter).
        for (int i = 0; i < 100; i++) {
            world.group("ca-central-1", "tp-filler-" + i, "tp.example.com", "node", 0);
        }
        List<String> big = world.group("ca-central-1", "tp-proxy-big", "tp.example.com", "proxy", 250);
        JsonNode inv = discover(new ConfigLoader(Map.of("AWS_ENDPOINT_URL", moto.endpoint()))
                .parse("it.yml", "cluster: tp.example.com\nregions: [ca-central-1]\n"));
        assertThat(hosts(inv, "asg_tp_proxy_big")).hasSize(250).containsExactlyInAnyOrderElementsOf(big);
    }
}
