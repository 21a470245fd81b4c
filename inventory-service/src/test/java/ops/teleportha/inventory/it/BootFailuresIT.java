package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
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
 * A pool whose launches keep failing their boot converge, against a real moto server: the instances tag
 * themselves (teleport-ha-boot) and are terminated by Auto Scaling (ABANDON); the inventory counts the failures
 * in a row per group with the newest reason, as data, and forgets them once a launch reaches InService.
 */
class BootFailuresIT {
    static final String REGION = "us-west-2";
    static final String FAILURE = "teleport-ha:boot-failure";
    static final String DIGEST = "teleport-ha:boot-config-digest";
    static MotoServer moto;
    static World world;

    @BeforeAll
    static void seed() throws Exception {
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

    record Seen(JsonNode hostvars, String metrics) {}

    static Seen discover() throws Exception {
        InventoryConfig c = new ConfigLoader(Map.of("AWS_ENDPOINT_URL", moto.endpoint()))
                .parse("it.yml", "cluster: tp.example.com\nregions: [" + REGION + "]\n");
        InventoryMetrics metrics = new InventoryMetrics("test");
        try (AwsClients clients = new AwsClients(c);
                InventoryService s = new InventoryService(
                        c, new Discovery(c, clients, Clock.systemUTC()), metrics, Clock.systemUTC())) {
            InventoryService.Current cur = s.refresh();
            assertThat(cur.error()).isNull();
            JsonNode inv = AnsibleJson.plain(
                    InventoryBuilder.JSON.readTree(cur.inventory().inventoryJson()));
            return new Seen(inv.path("_meta").path("hostvars"), metrics.scrape());
        }
    }

    /**
     * EC2's launch times have a resolution of one second: the next launch must be in a later second than the
     * last to be told apart from it, as on AWS. Polls the clock, never sleeps a guess.
     */
    static void nextSecond() throws Exception {
        Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        Poll.until(
                Duration.ofSeconds(3),
                "the next second",
                () -> Instant.now().truncatedTo(ChronoUnit.SECONDS).isAfter(now));
    }

    static String failures(String asg) {
        return "teleport_inventory_boot_failures{region=\"" + REGION + "\",role=\"proxy\",asg=\"" + asg + "\",}";
    }

    static String reason(String asg, String reason) {
        return "teleport_inventory_boot_failure_reason{region=\"" + REGION + "\",role=\"proxy\",asg=\"" + asg
                + "\",reason=\"" + reason + "\",}";
    }

    @Test
    void failuresInARowAreCountedWithTheNewestReasonUntilALaunchSucceeds() throws Exception {
        List<String> serving = world.pool(REGION, "tp-proxy", "tp.example.com", "proxy", 3);
        world.pool(REGION, "tp-proxy-b", "tp.example.com", "proxy", 1);
        Seen seen = discover();
        assertThat(seen.metrics()).contains(failures("tp-proxy") + " 0.0").contains(failures("tp-proxy-b") + " 0.0");
        assertThat(seen.metrics()).doesNotContain("teleport_inventory_boot_failure_reason{");

        // Two launches abandoned with the reason "version": tagged by themselves, then terminated.
        nextSecond();
        List<String> abandoned = world.scale(REGION, "tp-proxy", 5);
        assertThat(abandoned).hasSize(2);
        for (String id : abandoned) {
            world.tag(REGION, id, FAILURE, "version");
            world.terminateInGroup(REGION, id);
        }
        seen = discover();
        assertThat(seen.metrics())
                .contains(failures("tp-proxy") + " 2.0")
                .contains(reason("tp-proxy", "version") + " 1.0")
                .contains(failures("tp-proxy-b") + " 0.0");
        // Gone from the group, so from the inventory: nothing to configure.
        assertThat(seen.hostvars().has(abandoned.get(0))).isFalse();

        // A third, whose tag is not a reason teleport-ha-boot writes: counted, and shown only as "invalid".
        nextSecond();
        String forged = world.scale(REGION, "tp-proxy", 4).get(0);
        world.tag(REGION, forged, FAILURE, "{{ lookup('pipe', 'id') }}");
        world.terminateInGroup(REGION, forged);
        seen = discover();
        assertThat(seen.metrics())
                .contains(failures("tp-proxy") + " 3.0")
                .contains(reason("tp-proxy", "invalid") + " 1.0")
                .doesNotContain("lookup")
                .doesNotContain(reason("tp-proxy", "version"));

        // The next launch converges and reaches InService: the pool is healed, the alert's series is 0.
        nextSecond();
        String healed = world.scale(REGION, "tp-proxy", 4).get(0);
        String digest = "ab".repeat(32);
        world.tag(REGION, healed, DIGEST, digest);
        seen = discover();
        assertThat(seen.metrics())
                .contains(failures("tp-proxy") + " 0.0")
                .doesNotContain("teleport_inventory_boot_failure_reason{");
        JsonNode h = seen.hostvars().path(healed);
        assertThat(h.path("teleport_boot_config_digest").asText()).isEqualTo(digest);
        assertThat(h.path("teleport_converge_state").asText()).isEqualTo("configured");
        assertThat(seen.hostvars()
                        .path(serving.get(0))
                        .path("teleport_boot_config_digest")
                        .isNull())
                .isTrue();

        // Scale-in picks the launch that healed the pool: it leaves on purpose, and the failures before it do
        // not come back (its recorded digest says the launch succeeded). A forged digest proves nothing.
        world.terminateInGroup(REGION, healed);
        seen = discover();
        assertThat(seen.hostvars().has(healed)).isFalse();
        assertThat(seen.metrics())
                .contains(failures("tp-proxy") + " 0.0")
                .doesNotContain("teleport_inventory_boot_failure_reason{");

        // A launch that fails after it counts again, from one; a later one whose digest is no sha256 (not what
        // teleport-ha-boot writes) is no success.
        nextSecond();
        String again = world.scale(REGION, "tp-proxy", 4).get(0);
        world.tag(REGION, again, FAILURE, "converge");
        world.terminateInGroup(REGION, again);
        nextSecond();
        String forgedDigest = world.scale(REGION, "tp-proxy", 4).get(0);
        world.tag(REGION, forgedDigest, DIGEST, "{{ 7 * 7 }}");
        world.terminateInGroup(REGION, forgedDigest);
        seen = discover();
        assertThat(seen.metrics())
                .contains(failures("tp-proxy") + " 1.0")
                .contains(reason("tp-proxy", "converge") + " 1.0");
    }
}
