package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TestPki.KeyFormat;
import ops.teleportha.agent.testing.TlsDirs;
import ops.teleportha.agent.testing.TlsTestServer;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The drop directory changing under the rotator: a pair that lands while another is being judged or rolled
 * back, a pair that lands by renames, and a drop the agent refuses to read, which must be reported once.
 */
class TlsRotatorDropChangesTest {
    static TestPki pki;

    @TempDir
    Path tmp;

    TlsDirs dirs;
    CollectorRegistry registry;

    @BeforeAll
    static void pki() {
        pki = TestPki.create();
    }

    @BeforeEach
    void dirs() throws Exception {
        dirs = TlsDirs.under(tmp, pki);
        registry = new CollectorRegistry();
    }

    private TlsRotator rotator(HostPort verify, Duration verifyTimeout, Duration settle) throws Exception {
        TlsRotator r = new TlsRotator(
                dirs.config(verify, verifyTimeout, settle),
                new AgentMetrics(registry, "test", false),
                Clock.systemUTC());
        r.prepare();
        return r;
    }

    private double metric(String name, String label, String value) {
        Double v = registry.getSampleValue(name, new String[] {label}, new String[] {value});
        return v == null ? 0 : v;
    }

    private List<Path> rejectedDirs() throws Exception {
        if (!Files.isDirectory(dirs.rejected())) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dirs.rejected())) {
            return s.sorted().toList();
        }
    }

    @Test
    void aPairDroppedWhileAnotherIsRolledBackStaysInTheDropDirectory() throws Exception {
        TestPki.Issued first = pki.leaf(TlsDirs.NAMES);
        AtomicReference<TlsTestServer.Pair> served = new AtomicReference<>(new TlsTestServer.Pair(
                List.of(first.cert(), pki.intermediate.cert()), first.keys().getPrivate()));
        try (TlsTestServer teleport = new TlsTestServer(served::get, false)) {
            TlsRotator rotator =
                    rotator(new HostPort("127.0.0.1", teleport.port()), Duration.ofSeconds(2), Duration.ZERO);
            dirs.drop(pki, first);
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
            Path firstVersion = Files.readSymbolicLink(dirs.target().resolve("..data"));

            TestPki.Issued unserved = pki.leaf(TlsDirs.NAMES); // the server never picks it up: rolled back
            dirs.drop(pki, unserved);
            CompletableFuture<TlsRotator.Outcome> rotation = CompletableFuture.supplyAsync(rotator::check);
            // While the rotator waits for the server to serve it, the next pair lands.
            TlsRotatorInstallTest.poll(() ->
                    !Files.readSymbolicLink(dirs.target().resolve("..data")).equals(firstVersion));
            TestPki.Issued next = pki.leaf(TlsDirs.NAMES);
            dirs.drop(pki, next);

            assertThat(rotation.get(30, TimeUnit.SECONDS)).isEqualTo(TlsRotator.Outcome.ROLLED_BACK);

            assertThat(Files.readString(dirs.source().resolve("tls.crt")))
                    .as("the pair that landed meanwhile was not judged: it waits for the next check")
                    .isEqualTo(pki.chainPem(next));
            assertThat(Files.readString(dirs.source().resolve("tls.key")))
                    .isEqualTo(TestPki.keyPem(next.keys().getPrivate(), KeyFormat.PKCS8));
            List<Path> rejected = rejectedDirs();
            assertThat(rejected).hasSize(1);
            assertThat(rejected.get(0).getFileName().toString()).endsWith("-not_confirmed");
            assertThat(rejected.get(0).resolve("tls.crt")).doesNotExist();
            assertThat(Files.readString(rejected.get(0).resolve("REASON")))
                    .contains("reason: not_confirmed")
                    .contains("tls.crt was replaced before it could be moved aside; left in place");
        }
    }

    @Test
    void aPairLandingByRenamesIsNotJudgedHalfLanded() throws Exception {
        TlsRotator rotator = rotator(null, Duration.ofSeconds(1), Duration.ofSeconds(1));
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        // Written earlier (or copied with their times kept), then renamed in, key first, as the docs advise:
        // the files' mtimes are old, but they have only just arrived.
        Path key = Files.writeString(
                dirs.source().resolve(".tls.key.part"),
                TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8));
        Path crt = Files.writeString(dirs.source().resolve(".tls.crt.part"), pki.chainPem(leaf));
        FileTime anHourAgo = FileTime.from(Instant.now().minus(Duration.ofHours(1)));
        Files.setLastModifiedTime(key, anHourAgo);
        Files.setLastModifiedTime(crt, anHourAgo);
        Files.move(key, dirs.source().resolve("tls.key"), StandardCopyOption.ATOMIC_MOVE);

        assertThat(rotator.check())
                .as("tls.key has just arrived, tls.crt not yet")
                .isEqualTo(TlsRotator.Outcome.SETTLING);

        Files.move(crt, dirs.source().resolve("tls.crt"), StandardCopyOption.ATOMIC_MOVE);
        TlsRotatorInstallTest.poll(() -> {
            rotator.check();
            return Files.exists(dirs.target().resolve("tls.crt"))
                    && dirs.installedCert().equals(pki.chainPem(leaf));
        });
        assertThat(rejectedDirs()).isEmpty();
        assertThat(metric("teleport_node_agent_tls_rotations_total", "result", "rejected"))
                .isZero();
    }

    @Test
    void aHardLinkedDropIsReportedOnceAndJudgedAgainOnlyOnceItChanges() throws Exception {
        TlsRotator rotator = rotator(null, Duration.ofSeconds(1), Duration.ZERO);
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        String keyPem = TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8);
        // A key that also lives elsewhere: consuming the drop would leave that copy behind.
        Path elsewhere = Files.writeString(tmp.resolve("elsewhere.key"), keyPem);
        Files.writeString(dirs.source().resolve("tls.crt"), pki.chainPem(leaf));
        Files.createLink(dirs.source().resolve("tls.key"), elsewhere);

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream stderr = System.err;
        List<TlsRotator.Outcome> outcomes;
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        try {
            outcomes = Stream.generate(rotator::check).limit(5).toList();
        } finally {
            System.setErr(stderr);
        }

        assertThat(outcomes)
                .containsExactly(
                        TlsRotator.Outcome.REJECTED,
                        TlsRotator.Outcome.STILL_REFUSED,
                        TlsRotator.Outcome.STILL_REFUSED,
                        TlsRotator.Outcome.STILL_REFUSED,
                        TlsRotator.Outcome.STILL_REFUSED);
        assertThat(log.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains("hard_link")))
                .as("one log line, not one per check")
                .hasSize(1);
        assertThat(metric("teleport_node_agent_tls_rejections_total", "reason", "hard_link"))
                .isEqualTo(1.0);
        assertThat(metric("teleport_node_agent_tls_rotations_total", "result", "rejected"))
                .isEqualTo(1.0);
        TlsStatus.Rotation last = rotator.status().lastRotation();
        assertThat(last.result()).isEqualTo("rejected");
        assertThat(last.reason()).isEqualTo("hard_link");
        assertThat(last.detail()).contains("tls.key").contains("2 links").contains("copy");
        assertThat(dirs.source().resolve("tls.key")).as("left in place").exists();
        assertThat(rejectedDirs()).isEmpty();
        assertThat(dirs.target().resolve("tls.crt")).doesNotExist();

        // Replaced by a copy of its own: a changed drop, judged again.
        Path copy = Files.writeString(dirs.source().resolve(".tls.key.copy"), keyPem);
        Files.move(
                copy,
                dirs.source().resolve("tls.key"),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
        assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
        assertThat(elsewhere).exists();
    }
}
