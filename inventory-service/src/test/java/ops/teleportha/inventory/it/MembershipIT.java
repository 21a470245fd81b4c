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

/**
 * Membership is proven by the record aws-pools.yml writes, never by tags: against a real moto server, groups and
 * instances that carry the cluster's tags but are not the cluster's own are reported and left out.
 */
class MembershipIT {
    static final String CLUSTER = "tp.example.com";
    static MotoServer moto;
    static World world;
    static InventoryMetrics metrics;

    @BeforeAll
    static void start() throws Exception {
        System.setProperty("aws.accessKeyId", World.ACCESS_KEY);
        System.setProperty("aws.secretAccessKey", World.SECRET_KEY);
        moto = MotoServer.start();
        world = new World(moto.endpoint());
    }

    @AfterAll
    static void stop() {
        world.close();
        moto.close();
    }

    static InventoryService.Current refresh(String... regions) {
        InventoryConfig c = new ConfigLoader(Map.of("AWS_ENDPOINT_URL", moto.endpoint()))
                .parse("it.yml", "cluster: " + CLUSTER + "\nregions: [" + String.join(", ", regions) + "]\n");
        metrics = new InventoryMetrics("test");
        try (AwsClients clients = new AwsClients(c);
                InventoryService s = new InventoryService(
                        c, new Discovery(c, clients, Clock.systemUTC()), metrics, Clock.systemUTC())) {
            return s.refresh();
        }
    }

    static JsonNode inventory(String... regions) throws Exception {
        InventoryService.Current cur = refresh(regions);
        assertThat(cur.error()).isNull();
        return AnsibleJson.plain(InventoryBuilder.JSON.readTree(cur.inventory().inventoryJson()));
    }

    static List<String> names(JsonNode inv) {
        List<String> out = new ArrayList<>();
        inv.path("_meta").path("hostvars").fieldNames().forEachRemaining(out::add);
        return out;
    }

    static List<String> excluded(JsonNode inv, String reason) {
        List<String> out = new ArrayList<>();
        inv.path("all").path("vars").path("teleport_inventory_excluded").forEach(e -> {
            if (e.path("reason").asText().equals(reason)) {
                out.add(e.path("instance_id").asText());
            }
        });
        return out;
    }

    /** The details of the excluded entries for these instances, in the list's order. */
    static List<String> details(JsonNode inv, List<String> instanceIds) {
        List<String> out = new ArrayList<>();
        inv.path("all").path("vars").path("teleport_inventory_excluded").forEach(e -> {
            if (instanceIds.contains(e.path("instance_id").asText())) {
                out.add(e.path("detail").asText());
            }
        });
        return out;
    }

    @Test
    void aStrangerGroupWithTheClustersTagsIsReportedAndNeverInAnyGroup() throws Exception {
        List<String> auth = world.group("us-west-2", "tp-auth", CLUSTER, "auth", 1);
        List<String> stranger = world.stranger("us-west-2", "tp-proxy-evil", CLUSTER, "proxy", 2);

        JsonNode inv = inventory("us-west-2");
        assertThat(names(inv)).containsExactlyElementsOf(auth);
        assertThat(excluded(inv, "not_a_member")).containsExactlyInAnyOrderElementsOf(stranger);
        JsonNode first =
                inv.path("all").path("vars").path("teleport_inventory_excluded").get(0);
        assertThat(first.path("asg").asText()).isEqualTo("tp-proxy-evil");
        assertThat(first.path("detail").asText())
                .contains("\"tp-proxy-evil\" carries the cluster's tags but is not in the membership record"
                        + " /teleport/tp.example.com/membership");
        assertThat(metrics.scrape())
                .contains("teleport_inventory_hosts_excluded{region=\"us-west-2\",reason=\"not_a_member\",} 2.0");
    }

    @Test
    void instancesOfARecordedGroupMustComeFromItsLaunchTemplateAndCarryItsProfile() throws Exception {
        String region = "eu-central-1";
        List<String> proxies = world.group(region, "tp-proxy", CLUSTER, "proxy", 2);
        List<String> attached = world.loneInstances(region, 1, CLUSTER);
        world.attach(region, "tp-proxy", attached.get(0));
        JsonNode inv = inventory(region);
        assertThat(names(inv)).containsExactlyInAnyOrderElementsOf(proxies);
        assertThat(excluded(inv, "not_a_member")).containsExactlyElementsOf(attached);

        // The record names another launch template (the group was pointed at someone else's), then a profile
        // the instances do not carry: every instance is left out, with the reason.
        String lt = world.launchTemplate(region);
        world.putMembership(region, CLUSTER, record(region, "tp-proxy", "proxy", "lt-0123456789abcdef0", ""));
        inv = inventory(region);
        assertThat(names(inv)).isEmpty();
        // The attached lone instance is left out too, and the order of the list is not part of the contract:
        // each of the group's own instances must carry the reason.
        assertThat(details(inv, proxies))
                .hasSize(proxies.size())
                .allSatisfy(d ->
                        assertThat(d).contains("not launched from the pool's launch template lt-0123456789abcdef0"));

        String profile = "arn:aws:iam::123456789012:instance-profile/teleport-proxy";
        world.putMembership(region, CLUSTER, record(region, "tp-proxy", "proxy", lt, profile));
        inv = inventory(region);
        assertThat(names(inv)).isEmpty();
        assertThat(details(inv, proxies))
                .hasSize(proxies.size())
                .allSatisfy(d -> assertThat(d).contains("carries instance profile none, not the pool's " + profile));

        // A group recorded for the other role is not this role's pool.
        world.putMembership(region, CLUSTER, record(region, "tp-proxy", "auth", lt, ""));
        assertThat(names(inventory(region))).isEmpty();

        world.putMembership(region, CLUSTER, record(region, "tp-proxy", "proxy", lt, ""));
        assertThat(names(inventory(region))).containsExactlyInAnyOrderElementsOf(proxies);
    }

    @Test
    void aRegionWithoutItsRecordOrWithABadOneIsNotServedAtAll() {
        world.stranger("sa-east-1", "tp-proxy", CLUSTER, "proxy", 1);
        InventoryService.Current cur = refresh("sa-east-1");
        assertThat(cur.inventory()).isNull();
        assertThat(cur.error())
                .contains("membership record /teleport/tp.example.com/membership in sa-east-1 does not exist")
                .contains("aws-pools.yml writes it");
        assertThat(metrics.scrape())
                .contains(
                        "teleport_inventory_region_refresh_failures_total{region=\"sa-east-1\",reason=\"membership\",} 1.0");

        world.putMembership("sa-east-1", CLUSTER, "{\"version\": 2, \"cluster\": \"other\", \"groups\": {}, \"x\": 1}");
        cur = refresh("sa-east-1");
        assertThat(cur.inventory()).isNull();
        assertThat(cur.error())
                .contains("unknown key \"x\"")
                .contains("version must be 1")
                .contains("cluster must be \"tp.example.com\"")
                .contains("region must be \"sa-east-1\"")
                .contains("groups must be a list");
    }

    static String record(String region, String group, String role, String lt, String profile) {
        return "{\"version\": 1, \"cluster\": \"" + CLUSTER + "\", \"region\": \"" + region + "\", \"groups\": [{"
                + "\"name\": \"" + group + "\", \"role\": \"" + role + "\", \"launch_template_id\": \"" + lt + "\","
                + " \"instance_profile_arn\": \"" + profile + "\"}]}";
    }
}
