package ops.teleportha.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import ops.teleportha.agent.testing.AgentProcess;
import ops.teleportha.agent.testing.Listeners;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TlsDirs;
import ops.teleportha.agent.testing.TlsTestServer;
import ops.teleportha.agent.tls.PemPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packaged jar, end to end: config errors, rotation, peer status, and metrics that promtool accepts. */
class AgentJarIT {
    @TempDir
    Path tmp;

    static String config(TlsDirs dirs, int port, Path peersFile) throws Exception {
        PosixFileAttributes a = Files.readAttributes(dirs.root(), PosixFileAttributes.class);
        return """
                listen_addr: 127.0.0.1:%d
                tls:
                  source_dir: %s
                  target_dir: %s
                  rejected_dir: %s
                  owner: %s
                  group: %s
                  required_names: ["teleport.example.com", "*.teleport.example.com"]
                  trust_bundle: %s
                  rescan_interval: 1h
                  settle_time: 200ms
                  verify:
                    addr: ""
                peers:
                  enabled: %s
                  file: %s
                  probe_interval: 2s
                  probe_timeout: 1s
                """.formatted(
                        port,
                        dirs.source(),
                        dirs.target(),
                        dirs.rejected(),
                        a.owner().getName(),
                        a.group().getName(),
                        dirs.trustBundle(),
                        peersFile != null,
                        peersFile == null ? "/nonexistent" : peersFile);
    }

    @Test
    void checkModeNamesEveryBadKeyAndExitsNonZero() throws Exception {
        Path cfg = Files.writeString(
                tmp.resolve("bad.yaml"), "peers:\n  probe_interval: -1s\n  file: peers.txt\ntls:\n  colour: blue\n");
        Process p = new ProcessBuilder(AgentProcess.command(cfg, "--check"))
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(out)
                .contains("peers.probe_interval: ")
                .contains("peers.file: must be an absolute path")
                .contains("tls.colour: unknown key")
                .contains(cfg.toString());
    }

    record Run(int exit, String stdout, String stderr) {}

    static Run run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "-jar",
                AgentProcess.jar().toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void checkSubcommandAndCheckFlagAgree() throws Exception {
        Path good = Files.writeString(tmp.resolve("good.yaml"), "tls:\n  enabled: false\npeers:\n  enabled: false\n");
        for (String[] args : List.of(
                new String[] {"check", "--config", good.toString()},
                new String[] {"--config", good.toString(), "--check"})) {
            Run r = run(args);
            assertThat(r.exit()).as(r.stderr()).isZero();
            assertThat(r.stdout()).isEqualTo(good + ": ok\n");
            assertThat(r.stderr()).isEmpty();
        }
        Path bad = Files.writeString(
                tmp.resolve("bad.yaml"),
                "listen_addr: nowhere\npeers:\n  probe_interval: 0s\n  file: /p\ntls:\n  enabled: false\n");
        Run r = run("check", "--config", bad.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().lines())
                .containsExactly(
                        "node-agent: " + bad
                                + ": listen_addr: 'nowhere' must be host:port, such as 127.0.0.1:8080 or [::1]:8080",
                        "node-agent: " + bad + ": peers.probe_interval: must be > 0");
    }

    @Test
    void exitCodesSeparateUsageFromRuntimeFailures() throws Exception {
        Run usage = run("frobnicate");
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(usage.stderr()).contains("unknown command 'frobnicate'").contains("usage: java -jar node-agent.jar");
        assertThat(run("--config").exit()).isEqualTo(2);

        Run version = run("version");
        assertThat(version.exit()).isZero();
        assertThat(version.stdout()).matches("node-agent \\d+\\.\\d+\\.\\d+\\S*\n");
        assertThat(run("--version").stdout()).isEqualTo(version.stdout());

        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path cfg = Files.writeString(
                    tmp.resolve("busy.yaml"),
                    "listen_addr: 127.0.0.1:" + taken.getLocalPort()
                            + "\ntls:\n  enabled: false\npeers:\n  enabled: false\n");
            Run busy = run("run", "--config", cfg.toString());
            assertThat(busy.exit())
                    .as("a port in use is a runtime failure, not a config error")
                    .isEqualTo(1);
            assertThat(busy.stderr()).contains("node-agent: cannot start: ");
        }
    }

    @Test
    void validateChecksAPairWithoutAConfigFile() throws Exception {
        TestPki pki = TestPki.create();
        TlsDirs dirs = TlsDirs.under(tmp, pki);
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        dirs.drop(pki, leaf);
        String cert = dirs.source().resolve("tls.crt").toString();
        String key = dirs.source().resolve("tls.key").toString();

        Run ok = run(
                "validate",
                "--cert",
                cert,
                "--key",
                key,
                "--names",
                String.join(",", TlsDirs.NAMES),
                "--trust-bundle",
                dirs.trustBundle().toString());
        assertThat(ok.exit()).as(ok.stderr()).isZero();
        assertThat(ok.stdout()).startsWith(cert + ": ok: sha256 " + PemPair.fingerprint(leaf.cert()));

        Run bad = run(
                "validate",
                "--cert",
                cert,
                "--key",
                key,
                "--names",
                "other.example.com",
                "--trust-bundle",
                dirs.trustBundle().toString(),
                "--min-validity",
                "2160h",
                "--json");
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.stderr()).isEmpty();
        assertThat(bad.stdout())
                .startsWith("{\"valid\":false,")
                .contains("\"reason\":\"expires_too_soon\"")
                .contains("\"reason\":\"missing_san\"")
                .doesNotContain("PRIVATE KEY");
    }

    @Test
    void rotatesProbesAndServesMetricsThatPromtoolAccepts() throws Exception {
        String promtool = which("promtool");
        assertThat(promtool)
                .as("promtool must be on PATH (Debian package 'prometheus', see scripts/apt-packages.txt)")
                .isNotNull();

        TestPki pki = TestPki.create();
        TlsDirs dirs = TlsDirs.under(tmp, pki);
        TestPki.Issued host = pki.leaf(List.of("localhost"));
        try (TlsTestServer peer = new TlsTestServer(
                () -> new TlsTestServer.Pair(List.of(host.cert()), host.keys().getPrivate()), true)) {
            Path peers = Files.writeString(
                    tmp.resolve("peers.txt"),
                    "127.0.0.1:" + peer.port() + "\n127.0.0.1:" + Listeners.closedPort() + "\n");
            int port = Listeners.closedPort();
            Path cfg = Files.writeString(tmp.resolve("agent.yaml"), config(dirs, port, peers));
            try (AgentProcess agent =
                    AgentProcess.start(cfg, port, tmp.resolve("agent.log")).awaitHealthy(Duration.ofSeconds(60))) {
                TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
                dirs.drop(pki, leaf);
                poll(
                        () -> Files.exists(dirs.target().resolve("tls.crt"))
                                && dirs.installedCert().equals(pki.chainPem(leaf)),
                        agent);
                poll(() -> agent.get("/v1/peers/status").contains("\"outcome\":\"client_cert_required\""), agent);
                // The files land before the rotator records the rotation: wait for the status, not the disk.
                poll(() -> agent.get("/v1/tls/status").contains("\"last_rotation\":{"), agent);

                String tls = agent.get("/v1/tls/status");
                assertThat(tls)
                        .startsWith("{\"enabled\":true,\"installed\":{\"fingerprint_sha256\":\""
                                + PemPair.fingerprint(leaf.cert()) + "\"")
                        .contains("\"last_rotation\":{\"result\":\"installed\",\"reason\":null")
                        .contains("\"served\":null") // tls.verify.addr is empty: nothing was confirmed
                        .doesNotContain("PRIVATE KEY");

                String status = agent.get("/v1/peers/status");
                assertThat(status)
                        .contains("\"outcome\":\"refused\"")
                        .contains("\"up\":true")
                        .contains("\"checked_at\":\"");
                String metrics = agent.get("/metrics");
                assertThat(metrics)
                        .contains("teleport_node_agent_tls_rotations_total{result=\"installed\",} 1.0")
                        .contains("teleport_node_agent_tls_cert_not_after_timestamp_seconds "
                                + (double) leaf.cert().getNotAfter().toInstant().getEpochSecond())
                        .contains("teleport_node_agent_peer_up{peer=\"127.0.0.1:" + peer.port() + "\",} 1.0")
                        .contains("teleport_node_agent_peers 2.0");

                Process check = new ProcessBuilder(promtool, "check", "metrics")
                        .redirectErrorStream(true)
                        .start();
                check.getOutputStream().write(metrics.getBytes(StandardCharsets.UTF_8));
                check.getOutputStream().close();
                String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(check.waitFor(60, TimeUnit.SECONDS)).isTrue();
                assertThat(check.exitValue())
                        .as("promtool check metrics:\n%s", out)
                        .isZero();
                assertThat(agent.logText()).doesNotContain("PRIVATE KEY");
            }
        }
    }

    interface Check {
        boolean ok() throws Exception;
    }

    static void poll(Check c, AgentProcess agent) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!c.ok()) {
            assertThat(System.nanoTime())
                    .as("condition not met in 30s; agent log:\n%s", agent.logText())
                    .isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    static String which(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }
}
