package ops.teleportha.inventory.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.Base64;
import java.util.function.Function;
import java.util.stream.Stream;
import ops.teleportha.config.ConfigException;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;
import ops.teleportha.inventory.tls.TestCertificates.Pair;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Reading, checking and replacing serve.tls's pair, without a server: see InventoryServerTlsTest for the wire. */
class ServingCertificateTest {
    static final SecretFile RULES = SecretFile.forUid(new UnixSystem().getUid());

    static Pair ec, rsa, ed25519, other, expired;

    @TempDir
    Path dir;

    Path certFile;
    Path keyFile;

    @BeforeAll
    static void pairs() {
        ec = TestCertificates.ec("first");
        rsa = TestCertificates.rsa("second");
        ed25519 = TestCertificates.ed25519("first");
        other = TestCertificates.ec("stray");
        expired = TestCertificates.expired("first");
    }

    private InventoryConfig.Tls files(Pair pair, String keyPem) throws Exception {
        certFile = dir.resolve("tls.crt");
        keyFile = dir.resolve("tls.key");
        pair.writeTo(certFile, keyFile, keyPem);
        return new InventoryConfig.Tls(certFile, keyFile);
    }

    private ServingCertificate load(InventoryConfig.Tls files) {
        return new ServingCertificate(files, RULES, Clock.systemUTC());
    }

    static Stream<Arguments> keyForms() {
        return Stream.of(
                Arguments.of("EC, PKCS#8", (Function<Pair, String>) Pair::pkcs8Pem, "ec"),
                Arguments.of("EC, SEC1 after EC PARAMETERS", (Function<Pair, String>) Pair::traditionalPem, "ec"),
                Arguments.of("RSA, PKCS#8", (Function<Pair, String>) Pair::pkcs8Pem, "rsa"),
                Arguments.of("RSA, PKCS#1", (Function<Pair, String>) Pair::traditionalPem, "rsa"),
                Arguments.of("Ed25519, PKCS#8", (Function<Pair, String>) Pair::pkcs8Pem, "ed25519"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("keyForms")
    void readsTheKeyFormsOpensslAndAcmeClientsWrite(String form, Function<Pair, String> pem, String type)
            throws Exception {
        Pair pair = switch (type) {
            case "rsa" -> rsa;
            case "ed25519" -> ed25519;
            default -> ec;
        };
        ServingCertificate served = load(files(pair, pem.apply(pair)));
        assertThat(served.leaf()).isEqualTo(pair.cert());
        assertThat(served.sslContextFactory().getIncludeProtocols()).containsExactly("TLSv1.3", "TLSv1.2");
        assertThat(served.scrapeMetrics())
                .contains("teleport_inventory_tls_cert_not_after_timestamp_seconds "
                        + (double) (pair.cert().getNotAfter().getTime() / 1000))
                .contains("teleport_inventory_tls_reload_failures_total 0.0");
    }

    @Test
    void aBadPairIsRefusedAtStartNamingTheConfigKeyAndTheFix() throws Exception {
        InventoryConfig.Tls f = files(ec, other.pkcs8Pem());
        assertThatThrownBy(() -> load(f))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("serve.tls.key_file: " + keyFile
                        + " does not belong to the certificate in serve.tls.cert_file (" + certFile)
                .hasMessageEndingWith(
                        "install the key and the certificate issued for it, that certificate first in" + " the file");

        files(ec, ec.pkcs8Pem());
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> load(f))
                .hasMessage("serve.tls.key_file: " + keyFile
                        + " is readable by every user; run chmod 0600 (or 0640) on it (mode now rw-r--r--)");
        Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-rw----"));
        assertThatThrownBy(() -> load(f)).hasMessageStartingWith("serve.tls.key_file: " + keyFile + " is writable");

        Files.delete(certFile);
        assertThatThrownBy(() -> load(f)).hasMessage("serve.tls.cert_file: " + certFile + " does not exist");

        Files.write(certFile, ec.cert().getEncoded());
        assertThatThrownBy(() -> load(f))
                .hasMessage("serve.tls.cert_file: " + certFile
                        + " is DER (binary), not PEM; convert it: openssl x509 -inform DER -in FILE -out FILE.pem");

        files(ec, ec.certPem());
        assertThatThrownBy(() -> load(f))
                .hasMessage(
                        "serve.tls.key_file: " + keyFile + " holds a CERTIFICATE block where a private key belongs");

        files(
                ec,
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                        + Base64.getMimeEncoder().encodeToString(new byte[64])
                        + "\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertThatThrownBy(() -> load(f))
                .hasMessageStartingWith("serve.tls.key_file: " + keyFile + " the private key is encrypted");

        files(expired, expired.pkcs8Pem());
        assertThatThrownBy(() -> load(f))
                .hasMessage("serve.tls.cert_file: " + certFile + " expired at "
                        + expired.cert().getNotAfter().toInstant() + "; install a renewed certificate");
    }

    @Test
    void aNewPairIsInstalledOnceItsFilesHaveStayedTheSameForAPoll() throws Exception {
        ServingCertificate served = load(files(ec, ec.pkcs8Pem()));
        served.poll();
        assertThat(served.leaf()).isEqualTo(ec.cert());

        rsa.writeTo(certFile, keyFile, rsa.traditionalPem());
        served.poll(); // the change is seen; it may still be half written
        assertThat(served.leaf()).isEqualTo(ec.cert());
        served.poll();
        assertThat(served.leaf()).isEqualTo(rsa.cert());
        assertThat(served.scrapeMetrics())
                .contains("teleport_inventory_tls_cert_not_after_timestamp_seconds "
                        + (double) (rsa.cert().getNotAfter().getTime() / 1000))
                .contains("teleport_inventory_tls_reload_failures_total 0.0");
    }

    @Test
    void aBadNewPairKeepsTheLastGoodOneAndCountsOnce() throws Exception {
        ServingCertificate served = load(files(ec, ec.pkcs8Pem()));
        Files.writeString(certFile, other.certPem()); // a certificate without its key
        for (int i = 0; i < 4; i++) {
            served.poll();
        }
        assertThat(served.leaf()).isEqualTo(ec.cert());
        assertThat(served.scrapeMetrics())
                .contains("teleport_inventory_tls_reload_failures_total 1.0")
                .contains("teleport_inventory_tls_cert_not_after_timestamp_seconds "
                        + (double) (ec.cert().getNotAfter().getTime() / 1000));

        Files.writeString(keyFile, other.pkcs8Pem()); // and now the key that goes with it
        served.poll();
        served.poll();
        assertThat(served.leaf()).isEqualTo(other.cert());
        assertThat(served.scrapeMetrics()).contains("teleport_inventory_tls_reload_failures_total 1.0");
    }
}
