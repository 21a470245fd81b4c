package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import ops.teleportha.inventory.tls.TestCertificates;
import ops.teleportha.inventory.tls.TestCertificates.Pair;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The packaged jar's {@code serve}: what it refuses to start with (exit 2, before listening), and HTTPS once it
 * starts. AWS is a closed port on 127.0.0.1: nothing here needs an inventory, only a listener.
 */
class ServeCommandIT {
    static final String TOKEN = "serve-command-token-0123456789";

    @TempDir
    Path dir;

    int closedPort;
    Process running;

    record Run(int exit, String stdout, String stderr) {}

    @BeforeEach
    void closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
    }

    @AfterEach
    void stop() throws Exception {
        if (running != null) {
            running.destroy();
            running.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private ProcessBuilder serve(Path config) {
        String jar = System.getProperty("inventory.jar");
        assertThat(jar).as("the failsafe configuration passes inventory.jar").isNotNull();
        ProcessBuilder pb = new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar",
                jar,
                "serve",
                "--config",
                config.toString());
        pb.environment().put("AWS_ACCESS_KEY_ID", "AKIDSERVECMD");
        pb.environment().put("AWS_SECRET_ACCESS_KEY", "serve-command-secret-never-printed");
        pb.environment().put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + closedPort);
        pb.environment().keySet().removeIf(k -> k.startsWith("INVENTORY_SERVICE_"));
        return pb;
    }

    /** Runs serve and expects it to stop by itself. */
    private Run refused(Path config) throws Exception {
        Process p = serve(config).start();
        p.getOutputStream().close();
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("serve kept running; it should have refused to start");
        }
        return new Run(
                p.exitValue(),
                new String(out.get(), StandardCharsets.UTF_8),
                new String(err.get(), StandardCharsets.UTF_8));
    }

    private static byte[] readAll(java.io.InputStream in) {
        try (in) {
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Path config(String serve) throws Exception {
        return Files.writeString(
                dir.resolve("inventory.yml"),
                "cluster: tp.example.com\nregions: [us-west-2]\naws:\n  max_attempts: 1\nserve:\n" + serve);
    }

    private Path secret(String name, String content, String mode) throws Exception {
        Path f = Files.writeString(dir.resolve(name), content);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
        return f;
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0:0", "'[::]:0'", "198.18.0.1:0"})
    void refusesToListenBeyondLoopbackWithoutTlsAndAToken(String addr) throws Exception {
        Path config = config("  listen_addr: " + addr + "\n");
        Run r = refused(config);
        assertThat(r.exit()).as(r.stderr()).isEqualTo(2);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr().strip())
                .startsWith("inventory-service: config error: " + config + ": serve.listen_addr: ")
                .contains("is not a loopback address, so serve needs serve.tls (cert_file and key_file) and"
                        + " serve.token_file; missing serve.tls and serve.token_file. Set them, or listen on loopback"
                        + " only (127.0.0.1:8790 or [::1]:8790)")
                .doesNotContain("serving");

        Path token = secret("token", TOKEN, "rw-------");
        Run tokenOnly = refused(config("  listen_addr: " + addr + "\n  token_file: " + token + "\n"));
        assertThat(tokenOnly.exit()).isEqualTo(2);
        assertThat(tokenOnly.stderr()).contains("missing serve.tls. Set them");
    }

    @Test
    void refusesAKeyOrTokenFileOthersCouldReadOrChangeWithExit2() throws Exception {
        Pair pair = TestCertificates.ec("first");
        Path cert = Files.writeString(dir.resolve("tls.crt"), pair.certPem());
        Path key = secret("tls.key", pair.pkcs8Pem(), "rw-r--r--");
        Path token = secret("token", TOKEN, "rw-------");
        String tls = "  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\n";

        Run openKey = refused(config("  listen_addr: 127.0.0.1:0\n  token_file: " + token + "\n" + tls));
        assertThat(openKey.exit()).isEqualTo(2);
        assertThat(openKey.stderr().strip())
                .isEqualTo("inventory-service: config error: serve.tls.key_file: " + key
                        + " is readable by every user; run chmod 0600 (or 0640) on it (mode now rw-r--r--)");

        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw--w--w-"));
        Run openToken = refused(config("  listen_addr: 127.0.0.1:0\n  token_file: " + token + "\n" + tls));
        assertThat(openToken.exit()).isEqualTo(2);
        assertThat(openToken.stderr().strip())
                .isEqualTo("inventory-service: config error: serve.token_file: " + token
                        + " is writable by every user; run chmod 0600 (or 0640) on it (mode now rw--w--w-)");

        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        Files.writeString(key, TestCertificates.ec("stray").pkcs8Pem());
        Run mismatch = refused(config("  listen_addr: 127.0.0.1:0\n  token_file: " + token + "\n" + tls));
        assertThat(mismatch.exit()).isEqualTo(2);
        assertThat(mismatch.stderr())
                .startsWith("inventory-service: config error: serve.tls.key_file: " + key
                        + " does not belong to the certificate in serve.tls.cert_file");
    }

    @Test
    void servesHttpsWithTheConfiguredPair() throws Exception {
        Pair pair = TestCertificates.ec("first");
        Path cert = Files.writeString(dir.resolve("tls.crt"), pair.certPem());
        Path key = secret("tls.key", pair.traditionalPem(), "rw-------");
        Path token = secret("token", TOKEN, "rw-r-----");
        running = serve(config("  listen_addr: 127.0.0.1:0\n  token_file: " + token + "\n  tls:\n    cert_file: " + cert
                        + "\n    key_file: " + key + "\n"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        running.getOutputStream().close();
        Pattern serving = Pattern.compile("inventory-service: serving cluster .* on https://127\\.0\\.0\\.1:(\\d+)");
        int port = -1;
        try (BufferedReader err =
                new BufferedReader(new InputStreamReader(running.getErrorStream(), StandardCharsets.UTF_8))) {
            for (String line = err.readLine(); line != null && port < 0; line = err.readLine()) {
                Matcher m = serving.matcher(line);
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                }
            }
            // readLine ends at the process's end: a serve that died before saying where it listens fails here.
            assertThat(port).as("serve says where it listens").isPositive();
            // Keep draining stderr so the process never blocks on a full pipe.
            BufferedReader rest = err;
            CompletableFuture.runAsync(() -> rest.lines().forEach(l -> {}));
            HttpClient client = HttpClient.newBuilder()
                    .sslContext(TestCertificates.trusting(pair.cert()))
                    .connectTimeout(Duration.ofSeconds(10))
                    .build();
            for (String path : List.of("/healthz", "/metrics")) {
                HttpResponse<String> r = client.send(
                        HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + path))
                                .header("Authorization", "Bearer " + TOKEN)
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(path).isEqualTo(200);
            }
            running.destroy();
            assertThat(running.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
    }
}
