package ops.teleportha.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import ops.teleportha.agent.testing.AgentProcess;
import ops.teleportha.agent.testing.Listeners;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TlsDirs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A drop whose key the agent's user may not read, with real permissions: as on a host where the provisioning step
 * (root) wrote tls.key 0600. The agent runs as {@code nobody} when the tests run as root, else as the test's user
 * with the key at mode 0000. It must say so once, and pick the pair up once the permissions are fixed.
 */
class UnreadableDropIT {
    static final boolean ROOT = "root".equals(System.getProperty("user.name"));

    @TempDir
    Path tmp;

    @Test
    void anUnreadableKeyIsReportedOnceLeftInPlaceAndInstalledOnceReadable() throws Exception {
        TestPki pki = TestPki.create();
        TlsDirs dirs = TlsDirs.under(tmp, pki);
        UserPrincipalLookupService users = tmp.getFileSystem().getUserPrincipalLookupService();
        if (ROOT) {
            for (Path p : List.of(tmp, dirs.source())) {
                PosixFileAttributeView v = Files.getFileAttributeView(p, PosixFileAttributeView.class);
                v.setOwner(users.lookupPrincipalByName("nobody"));
                v.setGroup(users.lookupPrincipalByGroupName("nogroup"));
            }
        }
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        dirs.drop(pki, leaf);
        Path key = dirs.source().resolve("tls.key");
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString(ROOT ? "rw-------" : "---------"));

        int port = Listeners.closedPort();
        Path cfg = Files.writeString(
                tmp.resolve("agent.yaml"),
                AgentJarIT.config(dirs, port, null).replace("rescan_interval: 1h", "rescan_interval: 200ms"));
        List<String> asAgentUser =
                ROOT ? List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--") : List.of();
        try (AgentProcess agent = AgentProcess.start(asAgentUser, cfg, port, tmp.resolve("agent.log"))
                .awaitHealthy(Duration.ofSeconds(60))) {
            AgentJarIT.poll(() -> agent.get("/v1/tls/status").contains("\"reason\":\"unreadable\""), agent);
            String status = agent.get("/v1/tls/status");
            assertThat(status)
                    .contains("\"result\":\"rejected\"")
                    .contains(key + ": the agent's user (" + (ROOT ? "nobody" : System.getProperty("user.name"))
                            + ") may not read it (owner " + (ROOT ? "root" : System.getProperty("user.name")));

            // Many rescans later: still one report, and the drop is where it was.
            double firstLook = lastCheck(agent);
            AgentJarIT.poll(() -> lastCheck(agent) > firstLook + 2.0, agent);
            String metrics = agent.get("/metrics");
            assertThat(metrics)
                    .contains("teleport_node_agent_tls_rejections_total{reason=\"unreadable\",} 1.0")
                    .contains("teleport_node_agent_tls_rotations_total{result=\"rejected\",} 1.0");
            assertThat(agent.logText().lines().filter(l -> l.contains("(unreadable)")))
                    .as("one log line, not one per rescan; log:\n%s", agent.logText())
                    .hasSize(1);
            assertThat(key).exists();
            assertThat(dirs.target().resolve("tls.crt")).doesNotExist();

            // Fixed in place: the changed drop is judged again and installed.
            if (ROOT) {
                Files.setOwner(key, users.lookupPrincipalByName("nobody"));
            } else {
                Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
            }
            AgentJarIT.poll(() -> agent.get("/v1/tls/status").contains("\"result\":\"installed\""), agent);
            assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
            assertThat(agent.logText()).doesNotContain("PRIVATE KEY");
        }
    }

    private static double lastCheck(AgentProcess agent) throws Exception {
        Matcher m = Pattern.compile("(?m)^teleport_node_agent_tls_last_check_timestamp_seconds (\\S+)$")
                .matcher(agent.get("/metrics"));
        assertThat(m.find()).isTrue();
        return Double.parseDouble(m.group(1));
    }
}
