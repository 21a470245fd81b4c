package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import ops.teleportha.agent.config.TlsConfig;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.testing.PairCheck;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TestPki.KeyFormat;
import ops.teleportha.agent.testing.TestPki.KeyType;
import ops.teleportha.agent.testing.TlsDirs;
import ops.teleportha.agent.testing.TlsTestServer;
import ops.teleportha.config.HostPort;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class TlsRotatorInstallTest {
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

    private TlsRotator rotator(HostPort verify) throws Exception {
        return rotator(verify, Duration.ofSeconds(20)); // confirmation returns as soon as it succeeds
    }

    private TlsRotator rotator(HostPort verify, Duration verifyTimeout) throws Exception {
        TlsRotator r = new TlsRotator(
                dirs.config(verify, verifyTimeout), new AgentMetrics(registry, "test", false), Clock.systemUTC());
        r.prepare();
        return r;
    }

    private double rotations(String result) {
        return registry.getSampleValue(
                "teleport_node_agent_tls_rotations_total", new String[] {"result"}, new String[] {result});
    }

    @ParameterizedTest(name = "{0} key as {1}")
    @CsvSource({"RSA,PKCS1_OR_SEC1", "RSA,PKCS8", "EC,PKCS1_OR_SEC1", "EC,PKCS8", "ED25519,PKCS8"})
    void installsEveryKeyEncodingTeleportAccepts(KeyType type, KeyFormat format) throws Exception {
        Instant now = Instant.now();
        TestPki.Issued leaf = pki.leaf(type, TlsDirs.NAMES, now.minusSeconds(60), now.plus(Duration.ofDays(30)));
        String key = TestPki.keyPem(leaf.keys().getPrivate(), format);
        dirs.drop(pki.chainPem(leaf), key);

        assertThat(rotator(null).check()).isEqualTo(TlsRotator.Outcome.INSTALLED);

        assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
        // Whatever the dropped encoding, the installed key is the one PKCS#8 block of the same key.
        assertThat(dirs.installedKey())
                .startsWith("-----BEGIN PRIVATE KEY-----\n")
                .endsWith("-----END PRIVATE KEY-----\n")
                .containsOnlyOnce("-----BEGIN");
        assertThat(PemCodec.privateKey(dirs.installedKey().getBytes(StandardCharsets.US_ASCII), "installed")
                        .getEncoded())
                .isEqualTo(PemCodec.privateKey(key.getBytes(StandardCharsets.US_ASCII), "dropped")
                        .getEncoded());
        assertThat(PairCheck.matches(
                        Files.readAllBytes(dirs.target().resolve("tls.crt")),
                        Files.readAllBytes(dirs.target().resolve("tls.key"))))
                .isTrue();
        if (format == KeyFormat.PKCS8) {
            assertThat(dirs.installedKey()).isEqualTo(key);
        }
        try (Stream<Path> left = Files.list(dirs.source())) {
            assertThat(left).as("an installed candidate is consumed").isEmpty();
        }
    }

    @Test
    void installsOnlyThePemBlocksOfFilesWithExtraText() throws Exception {
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        String key = TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8);
        // What `openssl pkcs12 -nodes` and hand-edited files look like: bag attributes, comments, trailing text.
        dirs.drop(
                "Bag Attributes\n    friendlyName: teleport\nsubject=CN = teleport.example.com\n"
                        + pki.chainPem(leaf)
                                .replace("-----END CERTIFICATE-----\n", "-----END CERTIFICATE-----\n# next\n")
                        + "trailing text that is no PEM at all\n\u0000\u0001",
                "Key Attributes: <No Attributes>\n" + key + "-- end of key --\n");

        assertThat(rotator(null).check()).isEqualTo(TlsRotator.Outcome.INSTALLED);

        assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
        assertThat(dirs.installedKey()).isEqualTo(key);
        assertThat(PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(dirs.target().resolve("tls.key"))))
                .isEqualTo("rw-------");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("serverLeaves")
    void installsLeavesEveryTlsClientAccepts(String name, KeyPair keys, TestPki.Usage usage) throws Exception {
        TestPki.Issued leaf = pki.leaf(keys, TlsDirs.NAMES, usage);
        dirs.drop(pki, leaf);

        assertThat(rotator(null).check()).as(name).isEqualTo(TlsRotator.Outcome.INSTALLED);

        assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
    }

    static Stream<Arguments> serverLeaves() {
        KeyPair p256 = TestPki.ecKeys("secp256r1");
        return Stream.of(
                Arguments.of("no key usage extensions at all", p256, new TestPki.Usage(null, null)),
                Arguments.of(
                        "serverAuth and clientAuth",
                        p256,
                        new TestPki.Usage(
                                KeyUsage.digitalSignature,
                                List.of(KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth))),
                Arguments.of(
                        "serverAuth beside anyExtendedKeyUsage",
                        p256,
                        new TestPki.Usage(
                                KeyUsage.digitalSignature,
                                List.of(KeyPurposeId.anyExtendedKeyUsage, KeyPurposeId.id_kp_serverAuth))),
                Arguments.of(
                        "RSA with digitalSignature and no keyEncipherment",
                        TestPki.rsaKeys(2048),
                        new TestPki.Usage(KeyUsage.digitalSignature, List.of(KeyPurposeId.id_kp_serverAuth))),
                Arguments.of("RSA 3072", TestPki.rsaKeys(3072), TestPki.Usage.DEFAULT),
                Arguments.of("EC P-384", TestPki.ecKeys("secp384r1"), TestPki.Usage.DEFAULT),
                Arguments.of("EC P-521", TestPki.ecKeys("secp521r1"), TestPki.Usage.DEFAULT));
    }

    @Test
    void installsThroughDataSymlinkWithModesAndKeepsThePreviousVersion() throws Exception {
        TlsRotator rotator = rotator(null);
        dirs.drop(pki, pki.leaf(TlsDirs.NAMES));
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
        Path firstVersion = Files.readSymbolicLink(dirs.target().resolve("..data"));
        dirs.drop(pki, pki.leaf(TlsDirs.NAMES));
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);

        Path t = dirs.target();
        assertThat(Files.readSymbolicLink(t.resolve("tls.crt"))).isEqualTo(Path.of("..data/tls.crt"));
        assertThat(Files.readSymbolicLink(t.resolve("tls.key"))).isEqualTo(Path.of("..data/tls.key"));
        assertThat(Files.readSymbolicLink(t.resolve("..previous"))).isEqualTo(firstVersion);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(t.resolve("tls.key"))))
                .isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(t.resolve("tls.crt"))))
                .isEqualTo("rw-r--r--");
        var attrs = Files.readAttributes(t.resolve("tls.key"), java.nio.file.attribute.PosixFileAttributes.class);
        assertThat(attrs.owner().getName()).isEqualTo(dirs.config().owner());
        assertThat(attrs.group().getName()).isEqualTo(dirs.config().group());
        try (Stream<Path> versions =
                Files.list(t).filter(p -> p.getFileName().toString().matches("\\.\\.\\d.*"))) {
            assertThat(versions).hasSize(2);
        }
        assertThat(rotations("installed")).isEqualTo(2.0);
    }

    @Test
    void aReDroppedInstalledPairIsUnchangedNotRejected() throws Exception {
        TlsRotator rotator = rotator(null);
        TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
        dirs.drop(pki, leaf);
        rotator.check();
        dirs.drop(pki, leaf);
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.UNCHANGED);
        assertThat(rotations("rejected")).isZero();
    }

    @Test
    void theFirstPairIsInstalledAtOnceWhileNothingListensYet() throws Exception {
        HostPort nothing;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            nothing = new HostPort("127.0.0.1", s.getLocalPort()); // closed again: connections are refused
        }
        Instant now = Instant.now();
        TestPki.Issued leaf = pki.leaf(KeyType.EC, TlsDirs.NAMES, now.minusSeconds(60), now.plus(Duration.ofDays(30)));
        dirs.drop(pki.chainPem(leaf), TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8));
        TlsRotator r = rotator(nothing, Duration.ofSeconds(60));

        long started = System.nanoTime();
        assertThat(r.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);

        assertThat(Duration.ofNanos(System.nanoTime() - started))
                .as("no wait for a confirmation")
                .isLessThan(Duration.ofSeconds(10));
        assertThat(dirs.installedCert()).isEqualTo(pki.chainPem(leaf));
        assertThat(rotations("installed")).isEqualTo(1.0);
    }

    @Test
    void confirmsByHandshakeThatTheServerServesTheNewCertificate() throws Exception {
        try (TlsTestServer teleport = new TlsTestServer(this::installedPair, false)) {
            TlsRotator rotator = rotator(new HostPort("127.0.0.1", teleport.port()));
            dirs.drop(pki, pki.leaf(TlsDirs.NAMES));
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
            dirs.drop(pki, pki.leaf(TlsDirs.NAMES));
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
        }
    }

    @Test
    void rollsBackWhenTheServerKeepsServingTheOldCertificate() throws Exception {
        TestPki.Issued first = pki.leaf(TlsDirs.NAMES);
        AtomicReference<TlsTestServer.Pair> served = new AtomicReference<>();
        try (TlsTestServer teleport = new TlsTestServer(served::get, false)) {
            TlsRotator rotator = rotator(new HostPort("127.0.0.1", teleport.port()), Duration.ofSeconds(2));
            served.set(new TlsTestServer.Pair(
                    List.of(first.cert(), pki.intermediate.cert()), first.keys().getPrivate()));
            dirs.drop(pki, first);
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
            String certBefore = dirs.installedCert();
            String keyBefore = dirs.installedKey();

            dirs.drop(pki, pki.leaf(TlsDirs.NAMES)); // the server never picks this one up
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.ROLLED_BACK);

            assertThat(dirs.installedCert()).isEqualTo(certBefore);
            assertThat(dirs.installedKey()).isEqualTo(keyBefore);
            assertThat(rotator.lastRejection().reason()).isEqualTo(RejectReason.NOT_CONFIRMED);
            assertThat(rotations("rolled_back")).isEqualTo(1.0);
            try (Stream<Path> rejected = Files.list(dirs.rejected())) {
                assertThat(rejected.map(p -> p.getFileName().toString())).anyMatch(n -> n.endsWith("-not_confirmed"));
            }
        }
    }

    @Test
    void statusShowsTheInstalledPairTheLastRotationAndWhatWasConfirmedServed() throws Exception {
        TestPki.Issued first = pki.leaf(TlsDirs.NAMES);
        AtomicReference<TlsTestServer.Pair> served = new AtomicReference<>();
        try (TlsTestServer teleport = new TlsTestServer(served::get, false)) {
            TlsRotator rotator = rotator(new HostPort("127.0.0.1", teleport.port()), Duration.ofSeconds(2));
            assertThat(rotator.status().installed()).isNull();
            assertThat(rotator.status().lastRotation()).isNull();

            served.set(new TlsTestServer.Pair(
                    List.of(first.cert(), pki.intermediate.cert()), first.keys().getPrivate()));
            dirs.drop(pki, first);
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
            String firstPrint = PemPair.fingerprint(first.cert());
            TlsStatus s = rotator.status();
            assertThat(s.installed().fingerprintSha256()).isEqualTo(firstPrint);
            assertThat(s.installed().notAfter())
                    .isEqualTo(first.cert().getNotAfter().toInstant());
            assertThat(s.installed().names()).containsExactlyElementsOf(TlsDirs.NAMES);
            assertThat(s.lastRotation().result()).isEqualTo("installed");
            assertThat(s.lastRotation().reason()).isNull();
            assertThat(s.served().fingerprintSha256()).isEqualTo(firstPrint);
            assertThat(s.checkedAt()).isNotNull();

            dirs.drop(pki, pki.leaf(TlsDirs.NAMES)); // never served
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.ROLLED_BACK);
            s = rotator.status();
            assertThat(s.installed().fingerprintSha256())
                    .as("back to the first pair")
                    .isEqualTo(firstPrint);
            assertThat(s.lastRotation().result()).isEqualTo("rolled_back");
            assertThat(s.lastRotation().reason()).isEqualTo("not_confirmed");
            assertThat(s.lastRotation().detail()).contains("did not serve the new certificate");
            assertThat(s.served().fingerprintSha256()).isEqualTo(firstPrint);
        }
    }

    @Test
    void runsTheReloadCommandAfterInstallAndAgainAfterRollback() throws Exception {
        Path marker = tmp.resolve("reloads");
        TestPki.Issued first = pki.leaf(TlsDirs.NAMES);
        AtomicReference<TlsTestServer.Pair> served = new AtomicReference<>(new TlsTestServer.Pair(
                List.of(first.cert(), pki.intermediate.cert()), first.keys().getPrivate()));
        try (TlsTestServer teleport = new TlsTestServer(served::get, false)) {
            TlsConfig base = dirs.config(new HostPort("127.0.0.1", teleport.port()), Duration.ofSeconds(2));
            TlsConfig withCommand = new TlsConfig(
                    base.enabled(),
                    base.sourceDir(),
                    base.targetDir(),
                    base.rejectedDir(),
                    base.owner(),
                    base.group(),
                    base.requiredNames(),
                    base.trustBundle(),
                    base.minValidity(),
                    base.rescanInterval(),
                    base.settleTime(),
                    base.maxFileBytes(),
                    new TlsConfig.Reload(
                            TlsConfig.ReloadMode.COMMAND,
                            List.of("sh", "-c", "echo reload >> " + marker),
                            Duration.ofSeconds(10)),
                    base.verify());
            TlsRotator rotator =
                    new TlsRotator(withCommand, new AgentMetrics(registry, "test", false), Clock.systemUTC());
            rotator.prepare();

            dirs.drop(pki, first);
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
            assertThat(Files.readAllLines(marker)).hasSize(1);

            dirs.drop(pki, pki.leaf(TlsDirs.NAMES)); // the server keeps serving the first pair
            assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.ROLLED_BACK);
            assertThat(Files.readAllLines(marker))
                    .as("reloaded for the install and for the rollback")
                    .hasSize(3);
        }
    }

    @Test
    void picksUpADropFromTheFileWatchWithoutWaitingForTheRescan() throws Exception {
        // settle_time lets the two files land before the check: without it tls.crt alone would be refused.
        TlsRotator rotator = new TlsRotator(
                dirs.config(null, Duration.ofSeconds(1), Duration.ofMillis(300)),
                new AgentMetrics(registry, "test", false),
                Clock.systemUTC());
        rotator.start(); // rescan_interval is an hour: only the watch can see the drop in time
        try {
            TestPki.Issued leaf = pki.leaf(TlsDirs.NAMES);
            // The rescan at start may run first; wait until it has, so the drop below is only seen by the watch.
            poll(() -> registry.getSampleValue("teleport_node_agent_tls_last_check_timestamp_seconds") != null);
            dirs.drop(pki, leaf);
            poll(() -> Files.exists(dirs.target().resolve("tls.crt"))
                    && dirs.installedCert().equals(pki.chainPem(leaf)));
        } finally {
            rotator.close();
        }
    }

    interface Check {
        boolean ok() throws Exception;
    }

    static void poll(Check c) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!c.ok()) {
            assertThat(System.nanoTime()).as("condition not met within 20s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    private TlsTestServer.Pair installedPair() {
        try {
            List<java.security.cert.X509Certificate> chain =
                    PemCodec.certificates(Files.readAllBytes(dirs.target().resolve("tls.crt")), "t");
            return new TlsTestServer.Pair(
                    chain, PemCodec.privateKey(Files.readAllBytes(dirs.target().resolve("tls.key")), "k"));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
