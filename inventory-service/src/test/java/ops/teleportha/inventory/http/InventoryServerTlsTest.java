package ops.teleportha.inventory.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.security.auth.module.UnixSystem;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import javax.net.ssl.SSLHandshakeException;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;
import ops.teleportha.inventory.inventory.InventoryService.Current;
import ops.teleportha.inventory.it.Poll;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.tls.ServingCertificate;
import ops.teleportha.inventory.tls.TestCertificates;
import ops.teleportha.inventory.tls.TestCertificates.Pair;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** serve over HTTPS, on port 0 of 127.0.0.1: the handshake, the protocols, and a pair rotated under load. */
class InventoryServerTlsTest {
    static final String TOKEN = "unit-token-0123456789abcdef";
    static final SecretFile RULES = SecretFile.forUid(new UnixSystem().getUid());

    static Pair first, second, stray;

    @TempDir
    Path dir;

    Path certFile;
    Path keyFile;
    ServingCertificate tls;
    InventoryServer server;

    @BeforeAll
    static void pairs() {
        first = TestCertificates.ec("first");
        second = TestCertificates.rsa("second");
        stray = TestCertificates.ec("stray");
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (tls != null) {
            tls.close();
        }
    }

    private void start() throws Exception {
        certFile = dir.resolve("tls.crt");
        keyFile = dir.resolve("tls.key");
        first.writeTo(certFile, keyFile, first.pkcs8Pem());
        Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        tls = new ServingCertificate(new InventoryConfig.Tls(certFile, keyFile), RULES, Clock.systemUTC());
        server = new InventoryServer(
                        () -> new Current(null, "inventory not discovered yet"),
                        new InventoryMetrics("test"),
                        Optional.of(new BearerToken(token, RULES)),
                        Optional.of(tls))
                .start("127.0.0.1", 0);
    }

    private HttpResponse<String> get(HttpClient client, String url, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void servesHttpsThatAClientTrustingTheCertificateVerifiesAndNoPlainHttp() throws Exception {
        start();
        HttpClient verifying = HttpClient.newBuilder()
                .sslContext(TestCertificates.trusting(first.cert()))
                .build();
        String base = "https://127.0.0.1:" + server.port();
        assertThat(get(verifying, base + "/healthz", null).statusCode()).isEqualTo(200);
        assertThat(get(verifying, base + "/v1/peers", null).statusCode()).isEqualTo(401);
        HttpResponse<String> metrics = get(verifying, base + "/metrics", TOKEN);
        assertThat(metrics.body())
                .contains("teleport_inventory_tls_cert_not_after_timestamp_seconds "
                        + (double) (first.cert().getNotAfter().getTime() / 1000))
                .contains("teleport_inventory_tls_reload_failures_total 0.0")
                .contains("teleport_inventory_ready 0.0");

        assertThatThrownBy(
                        () -> get(HttpClient.newHttpClient(), "http://127.0.0.1:" + server.port() + "/healthz", null))
                .as("plain HTTP on the HTTPS port")
                .isInstanceOf(IOException.class);
        HttpClient strangers = HttpClient.newBuilder()
                .sslContext(TestCertificates.trusting(stray.cert()))
                .build();
        assertThatThrownBy(() -> get(strangers, base + "/healthz", null)).isInstanceOf(SSLHandshakeException.class);
    }

    @Test
    void speaksTls12AndTls13Only() throws Exception {
        start();
        assertThat(tls.sslContextFactory().getSelectedProtocols()).containsExactlyInAnyOrder("TLSv1.3", "TLSv1.2");
        assertThat(TestCertificates.presented(server.port(), TestCertificates.observing(), "TLSv1.2"))
                .isEqualTo(first.cert());
        assertThat(TestCertificates.presented(server.port(), TestCertificates.observing(), "TLSv1.3"))
                .isEqualTo(first.cert());
    }

    @Test
    void aRotatedPairIsServedWithoutARestartAndABadOneKeepsTheLastGood() throws Exception {
        start();
        tls.watch(Duration.ofMillis(50));
        HttpClient trustsBoth = HttpClient.newBuilder()
                .sslContext(TestCertificates.trusting(first.cert(), second.cert()))
                .build();
        String base = "https://127.0.0.1:" + server.port();

        second.writeTo(certFile, keyFile, second.traditionalPem());
        Poll.until(
                Duration.ofSeconds(30),
                "the rotated certificate on new connections",
                () -> TestCertificates.presented(server.port(), TestCertificates.observing())
                        .equals(second.cert()));
        assertThat(get(trustsBoth, base + "/healthz", null).statusCode()).isEqualTo(200);

        Files.writeString(keyFile, stray.pkcs8Pem()); // a key that is not the certificate's
        Poll.until(
                Duration.ofSeconds(30),
                "the refused pair to be counted",
                () -> get(trustsBoth, base + "/metrics", TOKEN)
                        .body()
                        .contains("teleport_inventory_tls_reload_failures_total 1.0"));
        assertThat(TestCertificates.presented(server.port(), TestCertificates.observing()))
                .isEqualTo(second.cert());
        assertThat(get(trustsBoth, base + "/metrics", TOKEN).body())
                .contains("teleport_inventory_tls_cert_not_after_timestamp_seconds "
                        + (double) (second.cert().getNotAfter().getTime() / 1000));
    }
}
