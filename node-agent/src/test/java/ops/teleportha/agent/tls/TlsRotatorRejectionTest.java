package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TestPki.KeyFormat;
import ops.teleportha.agent.testing.TestPki.KeyType;
import ops.teleportha.agent.testing.TestPki.Usage;
import ops.teleportha.agent.testing.TlsDirs;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every bad candidate is refused, the installed pair stays byte for byte, and the reason is on disk and in metrics. */
class TlsRotatorRejectionTest {
    static TestPki pki;
    static TestPki.Issued good;

    @TempDir
    Path tmp;

    TlsDirs dirs;
    CollectorRegistry registry;
    TlsRotator rotator;

    @BeforeAll
    static void pki() {
        pki = TestPki.create();
        good = pki.leaf(TlsDirs.NAMES);
    }

    @BeforeEach
    void installGoodPair() throws IOException {
        dirs = TlsDirs.under(tmp, pki);
        registry = new CollectorRegistry();
        rotator = new TlsRotator(dirs.config(), new AgentMetrics(registry, "test", false), Clock.systemUTC());
        rotator.prepare();
        dirs.drop(pki, good);
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.INSTALLED);
    }

    /** What to drop into the source dir, and the reason it must be refused with. */
    interface BadInput {
        void drop(TlsDirs dirs) throws Exception;
    }

    static Stream<Arguments> badInputs() {
        Instant now = Instant.now();
        String goodChain = pki.chainPem(good);
        String goodKey = TestPki.keyPem(good.keys().getPrivate(), KeyFormat.PKCS8);
        TestPki.Issued expired =
                pki.leaf(KeyType.EC, TlsDirs.NAMES, now.minus(Duration.ofDays(30)), now.minus(Duration.ofDays(1)));
        TestPki.Issued future =
                pki.leaf(KeyType.EC, TlsDirs.NAMES, now.plus(Duration.ofDays(1)), now.plus(Duration.ofDays(90)));
        TestPki.Issued soon =
                pki.leaf(KeyType.EC, TlsDirs.NAMES, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(2)));
        TestPki.Issued other = pki.leaf(TlsDirs.NAMES);
        TestPki.Issued wrongNames = pki.leaf(List.of("teleport.example.org"));
        TestPki.Issued onlyApex = pki.leaf(List.of("teleport.example.com"));
        TestPki.Issued older =
                pki.leaf(KeyType.EC, TlsDirs.NAMES, now.minus(Duration.ofDays(2)), now.plus(Duration.ofDays(90)));
        TestPki.Issued untrusted = TestPki.selfSigned(TlsDirs.NAMES);
        KeyPair p256 = TestPki.ecKeys("secp256r1");
        TestPki.Issued clientAuthOnly = pki.leaf(
                p256, TlsDirs.NAMES, new Usage(KeyUsage.digitalSignature, List.of(KeyPurposeId.id_kp_clientAuth)));
        TestPki.Issued anyEkuOnly = pki.leaf(
                p256, TlsDirs.NAMES, new Usage(KeyUsage.digitalSignature, List.of(KeyPurposeId.anyExtendedKeyUsage)));
        TestPki.Issued rsaEnciphermentOnly =
                pki.leaf(TestPki.rsaKeys(2048), TlsDirs.NAMES, new Usage(KeyUsage.keyEncipherment, null));
        TestPki.Issued ecKeyAgreementOnly = pki.leaf(p256, TlsDirs.NAMES, new Usage(KeyUsage.keyAgreement, null));
        TestPki.Issued rsa1024 = pki.leaf(TestPki.rsaKeys(1024), TlsDirs.NAMES, Usage.DEFAULT);
        TestPki.Issued secp256k1 =
                pki.leaf(TestPki.ecKeys("secp256k1"), TlsDirs.NAMES, new Usage(KeyUsage.digitalSignature, null));
        TestPki.Issued brainpool =
                pki.leaf(TestPki.ecKeys("brainpoolP256r1"), TlsDirs.NAMES, new Usage(KeyUsage.digitalSignature, null));
        return Stream.of(
                bad("expired", RejectReason.EXPIRED, d -> d.drop(pki, expired)),
                bad("not yet valid", RejectReason.NOT_YET_VALID, d -> d.drop(pki, future)),
                bad("expires within min_validity", RejectReason.EXPIRES_TOO_SOON, d -> d.drop(pki, soon)),
                bad(
                        "key mismatch",
                        RejectReason.KEY_MISMATCH,
                        d -> d.drop(goodChain, TestPki.keyPem(other.keys().getPrivate(), KeyFormat.PKCS8))),
                bad("missing SAN", RejectReason.MISSING_SAN, d -> d.drop(pki, wrongNames)),
                bad("wildcard required but only apex covered", RejectReason.MISSING_SAN, d -> d.drop(pki, onlyApex)),
                bad(
                        "truncated PEM",
                        RejectReason.MALFORMED_PEM,
                        d -> d.drop(goodChain.substring(0, goodChain.length() / 3), goodKey)),
                bad(
                        "truncated key",
                        RejectReason.MALFORMED_PEM,
                        d -> d.drop(goodChain, goodKey.substring(0, goodKey.length() - 40))),
                bad("garbage", RejectReason.MALFORMED_PEM, d -> d.drop("this is not a certificate\n", goodKey)),
                bad("DER instead of PEM", RejectReason.DER_NOT_PEM, d -> {
                    Files.write(d.source().resolve("tls.crt"), good.cert().getEncoded());
                    d.drop(null, goodKey);
                }),
                bad(
                        "encrypted key",
                        RejectReason.ENCRYPTED_KEY,
                        d -> d.drop(goodChain, TestPki.keyPem(good.keys().getPrivate(), KeyFormat.ENCRYPTED))),
                bad("empty cert file", RejectReason.EMPTY_FILE, d -> d.drop("", goodKey)),
                bad("empty key file", RejectReason.EMPTY_FILE, d -> d.drop(goodChain, "")),
                bad("cert only", RejectReason.MISSING_KEY, d -> d.drop(goodChain, null)),
                bad("key only", RejectReason.MISSING_CERT, d -> d.drop(null, goodKey)),
                bad(
                        "very large file",
                        RejectReason.TOO_LARGE,
                        d -> d.drop(goodChain + "x".repeat(2 * 1024 * 1024), goodKey)),
                bad("symlink pointing outside the source dir", RejectReason.SYMLINK_OUTSIDE_SOURCE, d -> {
                    Path outside = Files.writeString(d.root().resolve("elsewhere.crt"), goodChain);
                    Files.createSymbolicLink(d.source().resolve("tls.crt"), outside);
                    d.drop(null, goodKey);
                }),
                bad(
                        "chain in wrong order",
                        RejectReason.CHAIN_WRONG_ORDER,
                        d -> d.drop(TestPki.pem(pki.intermediate.cert(), good.cert()), goodKey)),
                bad(
                        "chain not trusted",
                        RejectReason.CHAIN_UNTRUSTED,
                        d -> d.drop(
                                TestPki.pem(untrusted.cert()),
                                TestPki.keyPem(untrusted.keys().getPrivate(), KeyFormat.PKCS8))),
                bad(
                        "chain missing the intermediate",
                        RejectReason.CHAIN_UNTRUSTED,
                        d -> d.drop(
                                TestPki.pem(other.cert()),
                                TestPki.keyPem(other.keys().getPrivate(), KeyFormat.PKCS8))),
                bad("older than the installed pair", RejectReason.OLDER_THAN_INSTALLED, d -> d.drop(pki, older)),
                bad(
                        "extended key usage without serverAuth",
                        RejectReason.MISSING_SERVER_AUTH,
                        d -> d.drop(pki, clientAuthOnly)),
                bad(
                        "anyExtendedKeyUsage without serverAuth",
                        RejectReason.MISSING_SERVER_AUTH,
                        d -> d.drop(pki, anyEkuOnly)),
                bad(
                        "RSA key usage without digitalSignature",
                        RejectReason.MISSING_DIGITAL_SIGNATURE,
                        d -> d.drop(pki, rsaEnciphermentOnly)),
                bad(
                        "ECDSA key usage without digitalSignature",
                        RejectReason.MISSING_DIGITAL_SIGNATURE,
                        d -> d.drop(pki, ecKeyAgreementOnly)),
                bad("RSA key under 2048 bits", RejectReason.WEAK_KEY, d -> d.drop(pki, rsa1024)),
                bad("EC key on secp256k1", RejectReason.UNSUPPORTED_CURVE, d -> d.drop(pki, secp256k1)),
                bad("EC key on brainpoolP256r1", RejectReason.UNSUPPORTED_CURVE, d -> d.drop(pki, brainpool)));
    }

    private static Arguments bad(String name, RejectReason reason, BadInput input) {
        return Arguments.of(name, reason, input);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badInputs")
    void rejectsBadInputAndKeepsTheInstalledPair(String name, RejectReason reason, BadInput input) throws Exception {
        String certBefore = dirs.installedCert();
        String keyBefore = dirs.installedKey();
        Path dataBefore = Files.readSymbolicLink(dirs.target().resolve("..data"));

        input.drop(dirs);
        assertThat(rotator.check()).isEqualTo(TlsRotator.Outcome.REJECTED);

        assertThat(rotator.lastRejection().reason()).isEqualTo(reason);
        assertThat(rotator.status().lastRotation().result()).isEqualTo("rejected");
        assertThat(rotator.status().lastRotation().reason()).isEqualTo(reason.label());
        assertThat(rotator.status().installed().fingerprintSha256()).isEqualTo(PemPair.fingerprint(good.cert()));
        assertThat(dirs.installedCert()).isEqualTo(certBefore);
        assertThat(dirs.installedKey()).isEqualTo(keyBefore);
        assertThat(Files.readSymbolicLink(dirs.target().resolve("..data"))).isEqualTo(dataBefore);
        assertThat(registry.getSampleValue(
                        "teleport_node_agent_tls_rejections_total",
                        new String[] {"reason"},
                        new String[] {reason.label()}))
                .isEqualTo(1.0);

        // Moved aside, never deleted: the source is empty and the rejected dir holds the files and the reason.
        try (Stream<Path> left = Files.list(dirs.source())) {
            assertThat(left).isEmpty();
        }
        Path moved;
        try (Stream<Path> entries = Files.list(dirs.rejected())) {
            moved = entries.filter(p -> p.getFileName().toString().endsWith("-" + reason.label()))
                    .findFirst()
                    .orElseThrow();
        }
        String reasonFile = Files.readString(moved.resolve("REASON"), StandardCharsets.UTF_8);
        assertThat(reasonFile).contains("reason: " + reason.label()).contains("detail: ");
        String keyBody =
                TestPki.keyPem(good.keys().getPrivate(), KeyFormat.PKCS8).split("\n")[1];
        assertThat(reasonFile).doesNotContain(keyBody.substring(0, 20));
        try (Stream<Path> files = Files.list(moved)) {
            assertThat(files.count()).isGreaterThanOrEqualTo(2);
        }
    }
}
