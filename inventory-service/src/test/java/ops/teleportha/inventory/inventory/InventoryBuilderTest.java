package ops.teleportha.inventory.inventory;

import static ops.teleportha.inventory.inventory.Hosts.host;
import static ops.teleportha.inventory.inventory.Hosts.ready;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.discovery.RegionFailure;
import ops.teleportha.inventory.discovery.RegionResult;
import ops.teleportha.inventory.testing.AnsibleJson;
import org.junit.jupiter.api.Test;

class InventoryBuilderTest {
    private static final Instant NOW = Instant.parse("2026-11-21T12:00:00Z");

    private static InventoryConfig config(String extra) {
        return new ConfigLoader(Map.of())
                .parse("t.yml", "cluster: tp.example.com\nregions: [us-west-2, eu-central-1]\n" + extra);
    }

    private static JsonNode build(InventoryConfig c, List<DiscoveredHost> west, List<DiscoveredHost> eu)
            throws Exception {
        return AnsibleJson.plain(
                InventoryBuilder.JSON.readTree(inventory(c, west, eu).inventoryJson()));
    }

    private static Inventory inventory(InventoryConfig c, List<DiscoveredHost> west, List<DiscoveredHost> eu) {
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome("us-west-2", new RegionResult("us-west-2", west, 2, 0, NOW), null, 0.1));
        store.record(new Outcome("eu-central-1", new RegionResult("eu-central-1", eu, 1, 0, NOW), null, 0.1));
        return new InventoryBuilder(c).build(store.view(NOW, Duration.ofMinutes(30)), NOW);
    }

    private static List<String> hosts(JsonNode inv, String group) {
        List<String> out = new ArrayList<>();
        inv.path(group).path("hosts").forEach(h -> out.add(h.asText()));
        return out;
    }

    @Test
    void eachHostsVariablesAreTheirSliceOfTheDocument() throws Exception {
        // /v1/hosts/{name} serves a slice of _meta.hostvars, not a second copy: every slice must be exactly
        // that host's object, also when tag values need JSON escaping, and the groups must follow _meta.
        InventoryConfig c = config("");
        List<DiscoveredHost> west = List.of(
                Hosts.withTags(ready("us-west-2", "proxy", "i-p1", 11), "g", Map.of("Note", "a \"quoted\" \\ value")),
                Hosts.withTags(ready("us-west-2", "auth", "i-a1", 10), "g", Map.of("Name", "caf\u00e9 \u2603 \n")),
                host("us-west-2", "proxy", "i-p9", 19, "Pending:Wait", "Healthy"));
        InventoryBuilder builder = new InventoryBuilder(c);
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome("us-west-2", new RegionResult("us-west-2", west, 2, 0, NOW), null, 0.1));
        store.record(new Outcome(
                "eu-central-1",
                new RegionResult("eu-central-1", List.of(ready("eu-central-1", "proxy", "i-e1", 12)), 1, 0, NOW),
                null,
                0.1));
        for (int round = 0; round < 2; round++) { // the second is rendered with the first's size as its hint
            Inventory inv = builder.build(store.view(NOW, Duration.ofMinutes(30)), NOW);
            JsonNode doc = InventoryBuilder.JSON.readTree(inv.inventoryJson());
            assertThat(doc.fieldNames().next()).isEqualTo("_meta");
            assertThat(doc.has("all")).isTrue();
            assertThat(inv.hostvarsAt()).containsOnlyKeys("i-p1", "i-a1", "i-p9", "i-e1");
            for (String name : inv.hostvarsAt().keySet()) {
                assertThat(inv.hostvars(name))
                        .isEqualTo(doc.path("_meta").path("hostvars").path(name));
            }
            assertThat(AnsibleJson.plain(inv.hostvars("i-p1"))
                            .path("ec2_tags")
                            .path("Note")
                            .asText())
                    .isEqualTo("a \"quoted\" \\ value");
            assertThat(AnsibleJson.plain(inv.hostvars("i-a1"))
                            .path("ec2_tags")
                            .path("Name")
                            .asText())
                    .isEqualTo("caf\u00e9 \u2603 \n");
            assertThat(inv.hostvars("i-nobody")).isNull();
            assertThat(inv.hostvarsJson("i-nobody")).isNull();
        }
    }

    @Test
    void groupsReadyHostsByRoleRegionAndAsg() throws Exception {
        JsonNode inv = build(
                config(""),
                List.of(ready("us-west-2", "auth", "i-a1", 10), ready("us-west-2", "proxy", "i-p1", 11)),
                List.of(ready("eu-central-1", "proxy", "i-p2", 12)));
        assertThat(hosts(inv, "teleport_auth_us_west_2")).containsExactly("i-a1");
        assertThat(hosts(inv, "teleport_proxy_us_west_2")).containsExactly("i-p1");
        assertThat(hosts(inv, "teleport_proxy_eu_central_1")).containsExactly("i-p2");
        assertThat(hosts(inv, "teleport_auth_eu_central_1")).isEmpty();
        assertThat(hosts(inv, "region_us_west_2")).containsExactly("i-a1", "i-p1");
        assertThat(hosts(inv, "asg_teleport_proxy_eu_central_1")).containsExactly("i-p2");
        assertThat(inv.path("teleport_proxy").path("children"))
                .extracting(JsonNode::asText)
                .containsExactly("teleport_proxy_us_west_2", "teleport_proxy_eu_central_1");
        assertThat(inv.path("teleport").path("children"))
                .extracting(JsonNode::asText)
                .containsExactly("teleport_auth", "teleport_proxy");
        assertThat(inv.path("all").path("vars").path("teleport_inventory_stale_regions"))
                .isEmpty();
        assertThat(inv.path("all")
                        .path("vars")
                        .path("teleport_inventory_cluster")
                        .asText())
                .isEqualTo("tp.example.com");
    }

    @Test
    void hostvarsCarryAddressesLifecycleAndPeerAddress() throws Exception {
        DiscoveredHost p = ready("us-west-2", "proxy", "i-p1", 11);
        JsonNode v = build(config(""), List.of(p), List.of())
                .path("_meta")
                .path("hostvars")
                .path("i-p1");
        assertThat(v.path("ansible_host").asText()).isEqualTo(p.privateIp());
        assertThat(v.path("teleport_role").asText()).isEqualTo("proxy");
        assertThat(v.path("aws_region").asText()).isEqualTo("us-west-2");
        assertThat(v.path("aws_availability_zone").asText()).isEqualTo("us-west-2a");
        assertThat(v.path("aws_instance_id").asText()).isEqualTo("i-p1");
        assertThat(v.path("aws_asg_name").asText()).isEqualTo("teleport-proxy-us-west-2");
        assertThat(v.path("aws_lifecycle_state").asText()).isEqualTo("InService");
        assertThat(v.path("aws_health_status").asText()).isEqualTo("Healthy");
        assertThat(v.path("aws_private_dns").asText()).isEqualTo(p.privateDns());
        assertThat(v.path("aws_public_ip").isNull()).isTrue();
        assertThat(v.path("ec2_tags").path("Name").asText()).isEqualTo("proxy-i-p1");
        assertThat(v.path("teleport_peer_public_addr").asText()).isEqualTo(p.privateIp() + ":3021");
    }

    @Test
    void aPeerTemplateCanStillUseNamesTheOperatorKnowsResolve() throws Exception {
        DiscoveredHost p = ready("us-west-2", "proxy", "i-p1", 11);
        Inventory inv = inventory(config("peer_addr_template: '{private_dns}:3021'\n"), List.of(p), List.of());
        JsonNode peers = InventoryBuilder.JSON.readTree(inv.peersJson());
        assertThat(peers.path("peers").get(0).path("addr").asText()).isEqualTo(p.privateDns() + ":3021");
        assertThat(AnsibleJson.plain(inv.hostvars("i-p1"))
                        .path("teleport_peer_public_addr")
                        .asText())
                .isEqualTo(p.privateDns() + ":3021");
    }

    @Test
    void hostsThatAreNotInServiceAndHealthyAreOnlyInLifecycleGroups() throws Exception {
        JsonNode inv = build(
                config(""),
                List.of(
                        ready("us-west-2", "proxy", "i-ok", 10),
                        host("us-west-2", "proxy", "i-standby", 11, "Standby", "Healthy"),
                        host("us-west-2", "proxy", "i-sick", 12, "InService", "Unhealthy"),
                        host("us-west-2", "proxy", "i-new", 13, "Pending:Wait", "Healthy"),
                        host("us-west-2", "auth", "i-bye", 14, "Terminating:Wait", "Healthy")),
                List.of());
        assertThat(hosts(inv, "teleport_proxy_us_west_2")).containsExactly("i-ok");
        assertThat(hosts(inv, "region_us_west_2")).containsExactly("i-ok");
        assertThat(hosts(inv, "asg_teleport_proxy_us_west_2")).containsExactly("i-ok");
        assertThat(hosts(inv, "teleport_auth_us_west_2")).isEmpty();
        assertThat(hosts(inv, "teleport_lifecycle_standby")).containsExactly("i-standby");
        assertThat(hosts(inv, "teleport_lifecycle_unhealthy")).containsExactly("i-sick");
        assertThat(hosts(inv, "teleport_lifecycle_pending")).containsExactly("i-new");
        assertThat(hosts(inv, "teleport_lifecycle_terminating")).containsExactly("i-bye");
        assertThat(inv.path("_meta")
                        .path("hostvars")
                        .path("i-standby")
                        .path("aws_lifecycle_state")
                        .asText())
                .isEqualTo("Standby");
    }

    @Test
    void peersListOnlyReadyProxiesSortedByAddress() throws Exception {
        Inventory inv = inventory(
                config(""),
                List.of(
                        ready("us-west-2", "proxy", "i-p2", 20), ready("us-west-2", "proxy", "i-p1", 10),
                        ready("us-west-2", "auth", "i-a1", 30),
                                host("us-west-2", "proxy", "i-sb", 40, "Standby", "Healthy")),
                List.of(ready("eu-central-1", "proxy", "i-p3", 5)));
        JsonNode peers = InventoryBuilder.JSON.readTree(inv.peersJson());
        assertThat(peers.path("cluster").asText()).isEqualTo("tp.example.com");
        List<String> hosts = new ArrayList<>();
        peers.path("peers").forEach(p -> hosts.add(p.path("host").asText()));
        assertThat(hosts).containsExactlyInAnyOrder("i-p1", "i-p2", "i-p3");
        List<String> addrs = new ArrayList<>();
        peers.path("peers").forEach(p -> addrs.add(p.path("addr").asText()));
        assertThat(addrs).isSorted().allMatch(a -> a.endsWith(":3021"));
    }

    @Test
    void convergeStateAndBootDigestComeFromLifecycleAndTheInstancesOwnTagsAsData() throws Exception {
        String digest = "0123456789abcdef".repeat(4);
        DiscoveredHost booted = Hosts.withTags(
                ready("us-west-2", "proxy", "i-b", 11),
                "teleport-proxy-us-west-2",
                Map.of(DiscoveredHost.BOOT_DIGEST_TAG, digest));
        DiscoveredHost forged = Hosts.withTags(
                ready("us-west-2", "proxy", "i-f", 12),
                "teleport-proxy-us-west-2",
                Map.of(DiscoveredHost.BOOT_DIGEST_TAG, "{{ lookup('pipe', 'id') }}"));
        DiscoveredHost failed = Hosts.withTags(
                host("us-west-2", "proxy", "i-x", 13, "Terminating:Wait", "Healthy"),
                "teleport-proxy-us-west-2",
                Map.of("teleport-ha:boot-failure", "version"));
        Inventory inv = inventory(
                config(""),
                List.of(
                        booted,
                        forged,
                        failed,
                        host("us-west-2", "proxy", "i-p", 14, "Pending:Wait", "Healthy"),
                        host("us-west-2", "proxy", "i-t", 15, "Terminating:Wait", "Healthy"),
                        ready("us-west-2", "auth", "i-s", 16)),
                List.of());
        JsonNode vars = AnsibleJson.plain(InventoryBuilder.JSON.readTree(inv.inventoryJson()))
                .path("_meta")
                .path("hostvars");
        assertThat(vars.path("i-b").path("teleport_converge_state").asText()).isEqualTo("configured");
        assertThat(vars.path("i-b").path("teleport_boot_config_digest").asText())
                .isEqualTo(digest);
        // A tag that is not a sha256 is no digest; it is still only data under ec2_tags.
        assertThat(vars.path("i-f").path("teleport_boot_config_digest").isNull())
                .isTrue();
        assertThat(vars.path("i-x").path("teleport_converge_state").asText()).isEqualTo("failed");
        assertThat(vars.path("i-p").path("teleport_converge_state").asText()).isEqualTo("configuring");
        assertThat(vars.path("i-t").path("teleport_converge_state").asText()).isEqualTo("leaving");
        // A host site.yml configured has no boot digest.
        assertThat(vars.path("i-s").path("teleport_converge_state").asText()).isEqualTo("configured");
        assertThat(vars.path("i-s").path("teleport_boot_config_digest").isNull())
                .isTrue();

        JsonNode sd = InventoryBuilder.JSON.readTree(inv.serviceDiscoveryJson());
        Map<String, JsonNode> labels = new java.util.HashMap<>();
        sd.forEach(t -> labels.put(t.path("labels").path("aws_instance_id").asText(), t.path("labels")));
        assertThat(labels.get("i-b").path("teleport_boot_config_digest").asText())
                .isEqualTo(digest);
        assertThat(labels.get("i-b").path("teleport_converge_state").asText()).isEqualTo("configured");
        assertThat(labels.get("i-f").path("teleport_boot_config_digest").asText())
                .isEmpty();
        // Configuring, leaving and failed hosts are not in service: no target (their state is in the inventory).
        assertThat(labels).containsOnlyKeys("i-b", "i-f", "i-s");
    }

    @Test
    void serviceDiscoveryTargetsEveryHostInServiceOnTheAgentPort() throws Exception {
        Inventory inv = inventory(
                config("node_agent:\n  metrics_port: 9999\n"),
                List.of(
                        ready("us-west-2", "auth", "i-a1", 10),
                        host("us-west-2", "proxy", "i-sb", 11, "Standby", "Healthy"),
                        host("us-west-2", "proxy", "i-pw", 12, "Pending:Wait", "Healthy"),
                        host("us-west-2", "proxy", "i-tw", 13, "Terminating:Wait", "Healthy"),
                        host("us-west-2", "proxy", "i-uh", 14, "InService", "Unhealthy")),
                List.of());
        JsonNode sd = InventoryBuilder.JSON.readTree(inv.serviceDiscoveryJson());
        // A host on its way in or out is not watched: no alert before it serves, none for one that left.
        assertThat(sd).hasSize(1);
        JsonNode first = sd.get(0);
        assertThat(first.path("targets").get(0).asText()).endsWith(".10:9999");
        assertThat(first.path("labels").path("teleport_role").asText()).isEqualTo("auth");
        assertThat(first.path("labels").path("teleport_ready").asText()).isEqualTo("true");
    }

    @Test
    void teleportIsDiscoveredOnItsDiagPortWithTheNodeAgentsLabels() throws Exception {
        List<DiscoveredHost> west = List.of(
                ready("us-west-2", "auth", "i-a1", 10),
                ready("us-west-2", "proxy", "i-p1", 12),
                host("us-west-2", "proxy", "i-sb", 11, "Standby", "Healthy"));
        Inventory byDefault = inventory(config(""), west, List.of());
        JsonNode agents = InventoryBuilder.JSON.readTree(byDefault.serviceDiscoveryJson());
        JsonNode teleport = InventoryBuilder.JSON.readTree(byDefault.teleportServiceDiscoveryJson());
        assertThat(teleport).hasSize(agents.size()).hasSize(2);
        for (int i = 0; i < agents.size(); i++) {
            String agent = agents.get(i).path("targets").get(0).asText();
            assertThat(teleport.get(i).path("targets").get(0).asText())
                    .isEqualTo(agent.replaceFirst(":9810$", ":3000"));
            assertThat(teleport.get(i).path("labels")).isEqualTo(agents.get(i).path("labels"));
        }
        assertThat(teleport.findValuesAsText("aws_instance_id")).containsExactly("i-a1", "i-p1");

        Inventory moved = inventory(config("teleport:\n  diag_port: 3443\n"), west, List.of());
        JsonNode movedSd = InventoryBuilder.JSON.readTree(moved.teleportServiceDiscoveryJson());
        assertThat(movedSd.get(0).path("targets").get(0).asText()).endsWith(".10:3443");
        assertThat(InventoryBuilder.JSON
                        .readTree(moved.serviceDiscoveryJson())
                        .get(0)
                        .path("targets")
                        .get(0)
                        .asText())
                .endsWith(".10:9810");
    }

    @Test
    void duplicatePeerAddressesAreRefusedNotServed() {
        InventoryConfig c = config("peer_addr_template: '{region}.corp:3021'\n");
        assertThatThrownBy(() -> inventory(
                        c,
                        List.of(ready("us-west-2", "proxy", "i-p1", 1), ready("us-west-2", "proxy", "i-p2", 2)),
                        List.of()))
                .isInstanceOf(InventoryUnavailableException.class)
                .hasMessageContaining("the same peer_public_addr us-west-2.corp:3021");
    }

    @Test
    void hostNamesMustBeUniqueAcrossRegions() {
        InventoryConfig c = config("host_name_template: '{role}'\n");
        assertThatThrownBy(() -> inventory(
                        c,
                        List.of(ready("us-west-2", "auth", "i-1", 1)),
                        List.of(ready("eu-central-1", "auth", "i-2", 2))))
                .hasMessageContaining("gives the same name 'auth' to two instances");
        JsonNode ok;
        try {
            ok = build(
                    config("host_name_template: '{role}-{region}-{instance_id}'\n"),
                    List.of(ready("us-west-2", "auth", "i-1", 1)),
                    List.of(ready("eu-central-1", "auth", "i-2", 2)));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        assertThat(hosts(ok, "teleport_auth_eu_central_1")).containsExactly("auth-eu-central-1-i-2");
    }

    @Test
    void aReadyHostWithoutTheConfiguredAddressIsAnError() {
        InventoryConfig c = config("ansible_host:\n  source: public_ip\n");
        assertThatThrownBy(() -> inventory(c, List.of(ready("us-west-2", "auth", "i-1", 1)), List.of()))
                .hasMessageContaining(
                        "host i-1 (us-west-2): ansible_host.source public_ip: the instance has no public_ip");
    }

    @Test
    void aRegionThatNeverSucceededMakesTheWholeInventoryUnavailable() {
        InventoryConfig c = config("");
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome(
                "us-west-2",
                new RegionResult("us-west-2", List.of(ready("us-west-2", "auth", "i-1", 1)), 1, 0, NOW),
                null,
                0.1));
        store.record(new Outcome(
                "eu-central-1", null, new RegionFailure("eu-central-1", "auth", "AuthFailure (HTTP 401): bad"), 0.1));
        assertThatThrownBy(() -> new InventoryBuilder(c).build(store.view(NOW, Duration.ofMinutes(30)), NOW))
                .isInstanceOf(InventoryUnavailableException.class)
                .hasMessageContaining("region eu-central-1 (never discovered: auth: AuthFailure (HTTP 401): bad)");
    }

    @Test
    void aFailedRefreshServesTheLastGoodDataMarkedStale() throws Exception {
        InventoryConfig c = config("");
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome(
                "us-west-2",
                new RegionResult("us-west-2", List.of(ready("us-west-2", "auth", "i-1", 1)), 1, 0, NOW),
                null,
                0.1));
        store.record(new Outcome(
                "eu-central-1",
                new RegionResult("eu-central-1", List.of(ready("eu-central-1", "proxy", "i-2", 2)), 1, 0, NOW),
                null,
                0.1));
        store.record(
                new Outcome("eu-central-1", null, new RegionFailure("eu-central-1", "throttled", "Throttling"), 0.1));
        Inventory inv = new InventoryBuilder(c)
                .build(store.view(NOW.plusSeconds(60), Duration.ofMinutes(30)), NOW.plusSeconds(60));
        JsonNode json = AnsibleJson.plain(InventoryBuilder.JSON.readTree(inv.inventoryJson()));
        assertThat(json.path("all").path("vars").path("teleport_inventory_stale_regions"))
                .extracting(JsonNode::asText)
                .containsExactly("eu-central-1");
        assertThat(hosts(json, "teleport_proxy_eu_central_1")).containsExactly("i-2");

        // Past max_staleness the old data is no longer trusted.
        assertThatThrownBy(() -> new InventoryBuilder(c)
                        .build(store.view(NOW.plus(Duration.ofMinutes(31)), Duration.ofMinutes(30)), NOW))
                .hasMessageContaining("region eu-central-1 (last good data too old: throttled: Throttling)");

        // A later success clears the mark.
        store.record(new Outcome(
                "eu-central-1", new RegionResult("eu-central-1", List.of(), 1, 0, NOW.plusSeconds(120)), null, 0.1));
        Inventory fresh = new InventoryBuilder(c)
                .build(store.view(NOW.plusSeconds(121), Duration.ofMinutes(30)), NOW.plusSeconds(121));
        assertThat(fresh.staleRegions()).isEmpty();
    }

    private static final String JINJA = "{{ lookup('pipe', 'touch /tmp/pwned') }}";
    private static final String STATEMENT = "{% set x = lookup('pipe', 'id') %}";

    @Test
    void everyStringTheInventoryEmitsIsAnsibleUnsafeText() throws Exception {
        DiscoveredHost p = Hosts.withTags(
                ready("us-west-2", "proxy", "i-p1", 11),
                "asg-" + JINJA,
                Map.of("Name", JINJA, "Owner", STATEMENT, "TeleportRole", "proxy"));
        Inventory inv = inventory(config(""), List.of(p, ready("us-west-2", "auth", "i-a1", 10)), List.of());
        JsonNode raw = InventoryBuilder.JSON.readTree(inv.inventoryJson());

        assertThat(AnsibleJson.plainStrings(raw.path("_meta"))).isEmpty();
        assertThat(AnsibleJson.plainStrings(raw.path("all").path("vars"))).isEmpty();
        assertThat(AnsibleJson.plainStrings(inv.hostvars("i-p1"))).isEmpty();
        JsonNode v = raw.path("_meta").path("hostvars").path("i-p1");
        assertThat(v.path("aws_asg_name").path("__ansible_unsafe").asText()).isEqualTo("asg-" + JINJA);
        assertThat(v.path("ec2_tags").path("Name").path("__ansible_unsafe").asText())
                .isEqualTo(JINJA);
        assertThat(v.path("ec2_tags").path("Owner").path("__ansible_unsafe").asText())
                .isEqualTo(STATEMENT);
        // Group names are keys, which cannot be marked: the ASG's group keeps only [A-Za-z0-9_].
        raw.fieldNames().forEachRemaining(g -> assertThat(g).matches("[A-Za-z0-9_]+"));
        assertThat(hosts(raw, "teleport_proxy_us_west_2")).containsExactly("i-p1");
    }

    @Test
    void aHostWhoseTemplatedNameIsNotAHostNameIsLeftOutAndReported() throws Exception {
        InventoryConfig c = config("host_name_template: '{tag:Name}'\n");
        DiscoveredHost bad = Hosts.withTags(ready("us-west-2", "proxy", "i-bad", 11), "g", Map.of("Name", JINJA));
        DiscoveredHost newline =
                Hosts.withTags(ready("us-west-2", "proxy", "i-nl", 12), "g", Map.of("Name", "proxy-1\nproxy-2"));
        DiscoveredHost good = Hosts.withTags(ready("us-west-2", "auth", "i-good", 10), "g", Map.of("Name", "auth-1"));
        Inventory inv = inventory(c, List.of(bad, newline, good), List.of());
        JsonNode json = AnsibleJson.plain(InventoryBuilder.JSON.readTree(inv.inventoryJson()));

        List<String> names = new ArrayList<>();
        json.path("_meta").path("hostvars").fieldNames().forEachRemaining(names::add);
        assertThat(names).containsExactly("auth-1");
        assertThat(hosts(json, "teleport_proxy_us_west_2")).isEmpty();
        JsonNode excluded = json.path("all").path("vars").path("teleport_inventory_excluded");
        assertThat(excluded).extracting(e -> e.path("instance_id").asText()).containsExactly("i-bad", "i-nl");
        assertThat(excluded).extracting(e -> e.path("reason").asText()).containsOnly("invalid_host_name");
        assertThat(excluded.get(0).path("detail").asText())
                .contains("host_name_template '{tag:Name}'")
                .contains("\"{{ lookup('pipe', 'touch /tmp/pwned') }}\"");
        assertThat(excluded.get(1).path("detail").asText()).contains("\"proxy-1\\nproxy-2\"");
        assertThat(inv.excluded()).hasSize(2);
    }

    @Test
    void aHostWhoseAddressOrPeerAddressIsNotOneIsLeftOut() throws Exception {
        InventoryConfig c = config("""
                ansible_host: {source: tag, tag: Address}
                peer_addr_template: '{tag:Peer}:3021'
                """);
        Map<String, String> ok = Map.of("Address", "10.0.0.1", "Peer", "proxy-1.internal");
        DiscoveredHost good = Hosts.withTags(ready("us-west-2", "proxy", "i-good", 10), "g", ok);
        DiscoveredHost badAddress = Hosts.withTags(
                ready("us-west-2", "proxy", "i-addr", 11),
                "g",
                Map.of("Address", "10.0.0.2 -oProxyCommand=x", "Peer", "p2"));
        DiscoveredHost badPeer = Hosts.withTags(
                ready("us-west-2", "proxy", "i-peer", 12), "g", Map.of("Address", "10.0.0.3", "Peer", JINJA));
        DiscoveredHost newlinePeer = Hosts.withTags(
                ready("us-west-2", "proxy", "i-nl", 13), "g", Map.of("Address", "10.0.0.4", "Peer", "p4:1\nx"));
        DiscoveredHost auth =
                Hosts.withTags(ready("us-west-2", "auth", "i-auth", 14), "g", Map.of("Address", "10.0.0.5"));
        Inventory inv = inventory(c, List.of(good, badAddress, badPeer, newlinePeer, auth), List.of());
        JsonNode json = AnsibleJson.plain(InventoryBuilder.JSON.readTree(inv.inventoryJson()));

        assertThat(hosts(json, "teleport_proxy_us_west_2")).containsExactly("i-good");
        assertThat(hosts(json, "teleport_auth_us_west_2")).containsExactly("i-auth");
        assertThat(inv.excluded())
                .extracting(e -> e.instanceId() + " " + e.reason())
                .containsExactlyInAnyOrder(
                        "i-addr invalid_ansible_host", "i-peer invalid_peer_addr", "i-nl invalid_peer_addr");
        assertThat(InventoryBuilder.JSON.readTree(inv.peersJson()).path("peers"))
                .extracting(p -> p.path("addr").asText())
                .containsExactly("proxy-1.internal:3021");
    }

    @Test
    void aHostWithATagKeyAwsNeverAllowsIsLeftOut() throws Exception {
        DiscoveredHost bad =
                Hosts.withTags(ready("us-west-2", "proxy", "i-bad", 11), "g", Map.of("{{ x }}", "v", "Name", "n"));
        Inventory inv = inventory(config(""), List.of(bad, ready("us-west-2", "auth", "i-a", 10)), List.of());
        assertThat(inv.hostvarsAt()).containsOnlyKeys("i-a");
        assertThat(inv.excluded()).extracting(e -> e.reason()).containsExactly("invalid_tag");
    }

    @Test
    void goodNamesAndAddressesPassTheirPatterns() {
        assertThat(Values.HOST_NAME.matcher("i-0123456789abcdef0").matches()).isTrue();
        assertThat(Values.HOST_NAME.matcher("proxy-1.eu-central-1.example.com").matches())
                .isTrue();
        assertThat(Values.ANSIBLE_HOST.matcher("198.18.1.10").matches()).isTrue();
        assertThat(Values.ANSIBLE_HOST.matcher("ip-10-0-0-1.ec2.internal").matches())
                .isTrue();
        assertThat(Values.ANSIBLE_HOST.matcher("mi-0123456789abcdef0").matches())
                .isTrue();
        assertThat(Values.ANSIBLE_HOST.matcher("fd00::1").matches()).isTrue();
        assertThat(Values.PEER_ADDR.matcher("198.18.1.10:3021").matches()).isTrue();
        assertThat(Values.PEER_ADDR.matcher("[fd00::1]:3021").matches()).isTrue();
        for (String bad : List.of("a b", "a\n", "-x", "a;b", "{{x}}", "a:b")) {
            assertThat(Values.ANSIBLE_HOST.matcher(bad).matches()).as(bad).isFalse();
        }
        for (String bad : List.of("h:0", "h:65536", "h", ":3021", "h:3021\n", "h:30 21", "999.1.1.1:1")) {
            assertThat(Values.PEER_ADDR.matcher(bad).matches()).as(bad).isFalse();
        }
        assertThat(Values.TAG_KEY.matcher("aws:autoscaling:groupName").matches())
                .isTrue();
        assertThat(Values.TAG_KEY.matcher("Team Name/+=.@-_").matches()).isTrue();
    }
}
