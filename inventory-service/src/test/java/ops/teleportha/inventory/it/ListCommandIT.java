package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.testing.AnsibleJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packaged jar's {@code list} mode, run as Ansible's inventory script runs it. */
class ListCommandIT {
    static MotoServer moto;
    static World world;
    static List<String> auth;

    @TempDir
    Path dir;

    record Run(int exit, String stdout, String stderr) {}

    @BeforeAll
    static void seed() throws Exception {
        moto = MotoServer.start();
        world = new World(moto.endpoint());
        auth = world.group("us-west-2", "tp-auth", "tp.example.com", "auth", 2);
        world.group("eu-central-1", "tp-proxy", "tp.example.com", "proxy", 2);
    }

    @AfterAll
    static void stop() {
        world.close();
        moto.close();
    }

    static Run run(Map<String, String> env, String... args) throws Exception {
        return run(moto.endpoint(), env, args);
    }

    /** The packaged jar with args, against the moto at endpoint, with env. */
    static Run run(String endpoint, Map<String, String> env, String... args) throws Exception {
        String jar = System.getProperty("inventory.jar");
        assertThat(jar).as("the failsafe configuration passes inventory.jar").isNotNull();
        List<String> cmd = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", jar));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("AWS_ACCESS_KEY_ID", "AKIDLIST");
        pb.environment().put("AWS_SECRET_ACCESS_KEY", "list-secret-never-printed");
        pb.environment().put("AWS_ENDPOINT_URL", endpoint);
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    Path config(String yaml) throws Exception {
        return Files.writeString(dir.resolve("inventory.yml"), yaml);
    }

    @Test
    void printsTheInventoryAndNothingElse() throws Exception {
        Run r = run(
                Map.of(),
                "list",
                "--config",
                config("cluster: tp.example.com\nregions: [us-west-2, eu-central-1]\n")
                        .toString());
        assertThat(r.exit()).as(r.stderr()).isZero();
        assertThat(r.stderr()).isEmpty();
        JsonNode inv = AnsibleJson.plain(InventoryBuilder.JSON.readTree(r.stdout()));
        assertThat(inv.path("teleport_auth_us_west_2").path("hosts"))
                .extracting(JsonNode::asText)
                .containsExactlyInAnyOrderElementsOf(auth);
        assertThat(inv.path("teleport_proxy_eu_central_1").path("hosts")).hasSize(2);
        assertThat(r.stdout()).doesNotContain("list-secret-never-printed");
    }

    @Test
    void aFailedRegionFailsTheRunWithNothingOnStdout() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Run r = run(Map.of(), "list", "--config", config("""
                cluster: tp.example.com
                regions: [us-west-2, eu-central-1]
                aws:
                  max_attempts: 1
                  region_endpoints:
                    eu-central-1: http://127.0.0.1:%d
                """.formatted(closed)).toString());
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr())
                .contains("region eu-central-1 (never discovered: unreachable")
                .doesNotContain("list-secret-never-printed");
    }

    @Test
    void configErrorsNameTheKeyAndExitTwo() throws Exception {
        Run r = run(
                Map.of(),
                "list",
                "--config",
                config("cluster: tp.example.com\nregions: [us-west2]\n").toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr()).contains("config error").contains("regions[0]: 'us-west2' is not an AWS region name");

        Run env = run(
                Map.of("INVENTORY_SERVICE_REFRESH__INTERVAL", "soon"),
                "list",
                "--config",
                config("cluster: tp.example.com\nregions: [us-west-2]\n").toString());
        assertThat(env.exit()).isEqualTo(2);
        assertThat(env.stderr())
                .contains("refresh.interval: 'soon' is not a duration")
                .contains("INVENTORY_SERVICE_REFRESH__INTERVAL");
    }

    @Test
    void badArgumentsPrintUsage() throws Exception {
        Run r = run(Map.of(), "lst");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).contains("usage: inventory-service list  --config FILE");
        Run v = run(Map.of(), "--version");
        assertThat(v.exit()).isZero();
        assertThat(v.stdout()).startsWith("inventory-service 0.1.0");
    }

    @Test
    void checkValidatesTheConfigWithoutAskingAws() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Path cfg = config("cluster: tp.example.com\nregions: [us-west-2]\naws:\n  endpoint_url: http://127.0.0.1:%d\n"
                .formatted(closed));
        Run ok = run(Map.of(), "check", "--config", cfg.toString());
        assertThat(ok.exit()).as(ok.stderr()).isZero();
        assertThat(ok.stdout()).isEqualTo(cfg + ": ok\n");
        assertThat(ok.stderr()).isEmpty();
    }

    @Test
    void checkReportsEveryProblemOnStderrAndExitsTwo() throws Exception {
        Path cfg = config(
                "cluster: tp.example.com\nregions: [us-west2]\nrefresh:\n  interval: 0s\nserve:\n  listen_adr: x\n");
        Run r = run(Map.of("INVENTORY_SERVICE_AWS__MAX_ATTEMPTS", "99"), "check", "--config", cfg.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().lines())
                .containsExactly(
                        "inventory-service: config error: " + cfg
                                + ": regions[0]: 'us-west2' is not an AWS region name (expected a name like us-west-2)",
                        "inventory-service: config error: " + cfg + ": aws.max_attempts: must be from 1 to 20, got 99"
                                + " (set by environment variable INVENTORY_SERVICE_AWS__MAX_ATTEMPTS)",
                        "inventory-service: config error: " + cfg + ": refresh.interval: must be > 0",
                        "inventory-service: config error: " + cfg
                                + ": serve.listen_adr: unknown key; check the spelling against docs/inventory-service.md");
    }

    @Test
    void versionAndHelpExitZeroOnStdout() throws Exception {
        Run v = run(Map.of(), "version");
        assertThat(v.exit()).isZero();
        assertThat(v.stdout()).matches("inventory-service \\d+\\.\\d+\\.\\d+\\S*\n");
        Run h = run(Map.of(), "--help");
        assertThat(h.exit()).isZero();
        assertThat(h.stdout())
                .contains("inventory-service check --config FILE")
                .contains("exit codes: 0 ok, 1 runtime failure");
        assertThat(h.stderr()).isEmpty();
    }
}
