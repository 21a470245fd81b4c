package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TestPki.KeyFormat;
import ops.teleportha.agent.testing.TestPki.KeyType;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** {@code validate} on real files from a test CA: the rotator's checks, one line per problem, and --json. */
class ValidateCommandTest {
    static final String NAMES = "teleport.example.com,*.teleport.example.com";
    static TestPki pki;

    @TempDir
    Path tmp;

    Path bundle;

    record Result(int exit, String out, String err) {}

    @BeforeAll
    static void pki() {
        pki = TestPki.create();
    }

    @BeforeEach
    void bundle() throws Exception {
        bundle = pki.writeTrustBundle(tmp.resolve("ca.pem"));
    }

    private Result validate(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = ValidateCommand.run(
                List.of(args),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                Clock.systemUTC());
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path[] write(String certPem, String keyPem) throws Exception {
        return new Path[] {
            Files.writeString(tmp.resolve("tls.crt"), certPem), Files.writeString(tmp.resolve("tls.key"), keyPem)
        };
    }

    private Path[] write(TestPki.Issued leaf) throws Exception {
        return write(pki.chainPem(leaf), TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8));
    }

    private Result validate(Path[] pair, String... extra) {
        List<String> args = new ArrayList<>(List.of(
                "--cert", pair[0].toString(), "--key", pair[1].toString(), "--trust-bundle", bundle.toString()));
        args.addAll(List.of(extra));
        return validate(args.toArray(new String[0]));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(String text) {
        return (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions())).load(text);
    }

    @Test
    void aGoodPairIsOneOkLineWithItsFingerprint() throws Exception {
        TestPki.Issued leaf = pki.leaf(List.of("teleport.example.com", "*.teleport.example.com"));
        Path[] pair = write(leaf);
        Result r = validate(pair, "--names", NAMES);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).isEmpty();
        assertThat(r.out())
                .isEqualTo(pair[0] + ": ok: sha256 " + PemPair.fingerprint(leaf.cert()) + ", not after "
                        + leaf.cert().getNotAfter().toInstant()
                        + ", names teleport.example.com, *.teleport.example.com\n");
    }

    @Test
    void aLeafNoTlsServerCanUseIsRefusedWithWhatToReissue() throws Exception {
        // RSA 1024 with key usage keyEncipherment only and extended key usage clientAuth only: three problems.
        TestPki.Issued leaf = pki.leaf(
                TestPki.rsaKeys(1024),
                List.of("teleport.example.com"),
                new TestPki.Usage(KeyUsage.keyEncipherment, List.of(KeyPurposeId.id_kp_clientAuth)));
        Path[] pair = write(leaf);

        Result r = validate(pair, "--names", "teleport.example.com");

        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().lines().toList())
                .containsExactly(
                        "node-agent: weak_key: " + pair[0] + ": the leaf's RSA key has 1024 bits; TLS clients refuse"
                                + " RSA keys under 2048 bits; issue a new key of at least 2048 bits (openssl genpkey"
                                + " -algorithm RSA -pkeyopt rsa_keygen_bits:2048) or an ECDSA P-256 key",
                        "node-agent: missing_digital_signature: " + pair[0] + ": the leaf's key usage"
                                + " [keyEncipherment] lacks digitalSignature, which a TLS 1.3 or ECDHE server signs its"
                                + " handshake with (browsers refuse the certificate); reissue it with keyUsage"
                                + " digitalSignature (for RSA, keyEncipherment may stay beside it)",
                        "node-agent: missing_server_auth: " + pair[0] + ": the leaf's extended key usage [clientAuth]"
                                + " does not include serverAuth (1.3.6.1.5.5.7.3.1); reissue it with extendedKeyUsage"
                                + " serverAuth (beside clientAuth if it also needs that)");
    }

    @Test
    void aKeyOnACurveTeleportCannotLoadIsNamedAsSuchNotAsAMismatch() throws Exception {
        TestPki.Issued leaf = pki.leaf(
                TestPki.ecKeys("secp256k1"),
                List.of("teleport.example.com"),
                new TestPki.Usage(KeyUsage.digitalSignature, null));
        Path[] pair = write(leaf);

        Result r = validate(pair);

        assertThat(r.err().lines().toList())
                .containsExactly(
                        "node-agent: unsupported_curve: " + pair[1] + ": the EC key is on secp256k1 (1.3.132.0.10);"
                                + " Teleport (Go's crypto/tls) and browsers only use P-256, P-384 and P-521; issue a"
                                + " new key on P-256",
                        "node-agent: unsupported_curve: " + pair[0] + ": the leaf's EC key is on secp256k1"
                                + " (1.3.132.0.10); Teleport (Go's crypto/tls) and browsers only use P-256, P-384 and"
                                + " P-521; issue a new key on P-256 (openssl genpkey -algorithm EC -pkeyopt"
                                + " ec_paramgen_curve:P-256)");
    }

    @Test
    void everyProblemIsOneLineNamingWhatIsWrong() throws Exception {
        Instant now = Instant.now();
        // Expired, for other names, and from no CA the bundle trusts: three things to fix.
        TestPki.Issued other = TestPki.selfSigned(List.of("teleport.example.org"));
        TestPki.Issued expired = pki.leaf(
                KeyType.EC,
                List.of("teleport.example.org"),
                now.minus(Duration.ofDays(30)),
                now.minus(Duration.ofDays(1)));
        Path[] pair =
                write(TestPki.pem(expired.cert()), TestPki.keyPem(other.keys().getPrivate(), KeyFormat.PKCS8));
        Result r = validate(pair, "--names", NAMES);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.out()).isEmpty();
        List<String> lines = r.err().lines().toList();
        assertThat(lines).hasSize(4);
        assertThat(lines.get(0))
                .startsWith("node-agent: key_mismatch: " + pair[1] + ": does not belong to the leaf certificate");
        assertThat(lines.get(1)).startsWith("node-agent: expired: " + pair[0] + ": expired at ");
        assertThat(lines.get(2))
                .startsWith("node-agent: missing_san: " + pair[0]
                        + ": does not cover [teleport.example.com, *.teleport.example.com] from --names");
        assertThat(lines.get(3))
                .startsWith(
                        "node-agent: chain_untrusted: " + pair[0] + ": chain does not verify against --trust-bundle");
    }

    @Test
    void theTrustProblemOfAnExpiredLeafIsAboutTrustNotTime() throws Exception {
        Instant now = Instant.now();
        TestPki.Issued expired = pki.leaf(
                KeyType.EC,
                List.of("teleport.example.com"),
                now.minus(Duration.ofDays(30)),
                now.minus(Duration.ofDays(1)));
        Result r = validate(write(expired));
        assertThat(r.err().lines()).singleElement().asString().startsWith("node-agent: expired: ");
    }

    @Test
    void wildcardRulesAreTheRotatorsOwn() throws Exception {
        Path[] wildcardOnly = write(pki.leaf(List.of("*.teleport.example.com")));
        assertThat(validate(wildcardOnly, "--names", "proxy.teleport.example.com")
                        .exit())
                .isZero();
        Result apex = validate(wildcardOnly, "--names", "teleport.example.com");
        assertThat(apex.exit()).isEqualTo(2);
        assertThat(apex.err()).contains("missing_san: ").contains("does not cover [teleport.example.com]");
        assertThat(validate(wildcardOnly, "--names", "a.b.teleport.example.com").err())
                .contains("missing_san: ");
        Path[] apexOnly = write(pki.leaf(List.of("teleport.example.com")));
        assertThat(validate(apexOnly, "--names", "*.teleport.example.com").err())
                .contains("missing_san: ");
    }

    @Test
    void remainingValidityIsMeasuredAgainstMinValidity() throws Exception {
        Instant now = Instant.now();
        Path[] pair = write(pki.leaf(
                KeyType.RSA,
                List.of("teleport.example.com"),
                now.minus(Duration.ofHours(1)),
                now.plus(Duration.ofDays(2))));
        Result defaults = validate(pair);
        assertThat(defaults.err()).contains("expires_too_soon: ").contains("within --min-validity (168h)");
        assertThat(validate(pair, "--min-validity", "72h").err()).contains("within --min-validity (72h)");
        assertThat(validate(pair, "--min-validity", "24h").exit()).isZero();
    }

    @Test
    void chainOrderAndEncryptedKeysAreRefusedWithoutPrintingKeyMaterial() throws Exception {
        TestPki.Issued leaf = pki.leaf(List.of("teleport.example.com"));
        String key = TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.PKCS8);
        Result order = validate(write(TestPki.pem(pki.intermediate.cert(), leaf.cert()), key));
        assertThat(order.err().lines()).singleElement().asString().startsWith("node-agent: chain_wrong_order: ");

        String encrypted = TestPki.keyPem(leaf.keys().getPrivate(), KeyFormat.ENCRYPTED);
        Result enc = validate(write(pki.chainPem(leaf), encrypted), "--json");
        assertThat(enc.exit()).isEqualTo(2);
        assertThat(json(enc.out()).get("problems"))
                .asList()
                .singleElement()
                .satisfies(p -> assertThat(((Map<?, ?>) p).get("reason")).isEqualTo("encrypted_key"));

        String truncated = key.substring(0, key.length() - 40);
        Result cut = validate(write(pki.chainPem(leaf), truncated));
        assertThat(cut.err()).contains("malformed_pem: ");
        for (String secret : List.of(key, encrypted)) {
            for (String line : secret.lines()
                    .filter(l -> !l.startsWith("-----") && l.length() > 16)
                    .toList()) {
                assertThat(enc.out() + enc.err() + cut.out() + cut.err()).doesNotContain(line.substring(0, 16));
            }
        }
    }

    @Test
    void jsonCarriesFingerprintValidityNamesAndProblems() throws Exception {
        TestPki.Issued leaf = pki.leaf(List.of("teleport.example.com", "198.18.1.10"));
        Path[] pair = write(leaf);
        Result ok = validate(pair, "--json", "--names", "teleport.example.com,198.18.1.10");
        assertThat(ok.exit()).isZero();
        assertThat(ok.err()).isEmpty();
        Map<String, Object> doc = json(ok.out());
        assertThat(doc)
                .containsEntry("valid", true)
                .containsEntry("fingerprint_sha256", PemPair.fingerprint(leaf.cert()))
                .containsEntry(
                        "not_after", leaf.cert().getNotAfter().toInstant().toString())
                .containsEntry("names", List.of("teleport.example.com", "198.18.1.10"))
                .containsEntry("problems", List.of());

        Result bad = validate(pair, "--json", "--names", "proxy.teleport.example.com");
        assertThat(bad.exit()).isEqualTo(2);
        Map<String, Object> badDoc = json(bad.out());
        assertThat(badDoc)
                .containsEntry("valid", false)
                .containsEntry("fingerprint_sha256", PemPair.fingerprint(leaf.cert()));
        assertThat(badDoc.get("problems"))
                .asList()
                .singleElement()
                .satisfies(p -> assertThat(((Map<?, ?>) p).get("reason")).isEqualTo("missing_san"));

        Result missing = validate("--cert", tmp.resolve("nope.crt").toString(), "--key", pair[1].toString(), "--json");
        Map<String, Object> missingDoc = json(missing.out());
        assertThat(missingDoc)
                .containsEntry("valid", false)
                .containsEntry("fingerprint_sha256", null)
                .containsEntry("names", List.of());
        assertThat(missingDoc.get("problems"))
                .asList()
                .singleElement()
                .satisfies(p -> assertThat(((Map<?, ?>) p).get("reason")).isEqualTo("missing_cert"));
    }

    @Test
    void badArgumentsAreUsageErrors() throws Exception {
        Path[] pair = write(pki.leaf(List.of("teleport.example.com")));
        for (String[] args : List.of(
                new String[] {"--key", pair[1].toString()},
                new String[] {"--cert", pair[0].toString(), "--key", pair[1].toString(), "--colour", "blue"},
                new String[] {"--cert", pair[0].toString(), "--key", pair[1].toString(), "--min-validity", "a week"},
                new String[] {"--cert", pair[0].toString(), "--key", pair[1].toString(), "--names", "*.com"},
                new String[] {"--cert", pair[0].toString(), "--key", pair[1].toString(), "--cert", pair[0].toString()},
                new String[] {"--cert", pair[0].toString(), "--key"})) {
            Result r = validate(args);
            assertThat(r.exit()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(r.out()).isEmpty();
            assertThat(r.err()).startsWith("node-agent: validate: ").contains(ValidateCommand.USAGE);
        }
        assertThat(validate("--cert", pair[0].toString(), "--key", pair[1].toString(), "--min-validity", "a week")
                        .err())
                .contains("--min-validity: 'a week' is not a duration");
        assertThat(validate("--cert", pair[0].toString(), "--key", pair[1].toString(), "--names", "*.com")
                        .err())
                .contains("--names: '*.com' is a wildcard over a top-level domain");
    }
}
