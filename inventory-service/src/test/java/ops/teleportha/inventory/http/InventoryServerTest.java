package ops.teleportha.inventory.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.discovery.RegionResult;
import ops.teleportha.inventory.hostkeys.HostKeyStore;
import ops.teleportha.inventory.hostkeys.KnownHosts;
import ops.teleportha.inventory.inventory.Inventory;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.inventory.InventoryService.Current;
import ops.teleportha.inventory.inventory.RegionStore;
import ops.teleportha.inventory.inventory.RegionStore.RegionHealth;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.testing.AnsibleJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP face over real HTTP on port 0, fed a snapshot directly: no AWS, no moto. */
class InventoryServerTest {
    static final String TOKEN = "unit-token-0123456789abcdef";
    static final Instant NOW = Instant.parse("2026-11-21T12:00:00Z");
    static final List<String> DOCUMENTS =
            List.of("/v1/inventory", "/v1/peers", "/v1/sd/node-agent", "/v1/sd/teleport", "/v1/hosts/i-p1");

    @TempDir
    Path dir;

    final HttpClient http = HttpClient.newHttpClient();
    final InventoryMetrics metrics = new InventoryMetrics("test");
    volatile Current current = new Current(null, "inventory not discovered yet");
    InventoryServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static Inventory inventory() {
        InventoryConfig c =
                new ConfigLoader(Map.of()).parse("t.yml", "cluster: tp.example.com\nregions: [us-west-2]\n");
        DiscoveredHost proxy = new DiscoveredHost(
                "us-west-2",
                "proxy",
                "tp-proxy",
                "i-p1",
                "us-west-2a",
                "InService",
                "Healthy",
                "running",
                "198.18.1.10",
                null,
                "ip-198-18-1-10.us-west-2.compute.internal",
                null,
                "m6i.large",
                "ami-1",
                Map.of());
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome("us-west-2", new RegionResult("us-west-2", List.of(proxy), 1, 0, NOW), null, 0.1));
        return new InventoryBuilder(c).build(store.view(NOW, Duration.ofMinutes(30)), NOW);
    }

    private Path tokenFile(String token) throws Exception {
        Path f = Files.writeString(dir.resolve("token"), token + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    private void start(Optional<BearerToken> token) {
        server = new InventoryServer(() -> current, metrics, token).start("127.0.0.1", 0);
    }

    private HttpResponse<String> get(String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void everythingButHealthAndReadinessNeedsTheBearerToken() throws Exception {
        current = new Current(inventory(), null);
        start(Optional.of(new BearerToken(tokenFile(TOKEN))));
        assertThat(get("/healthz", null).statusCode()).isEqualTo(200);
        assertThat(get("/readyz", null).statusCode()).isEqualTo(200);
        for (String path : List.of(
                "/v1/inventory", "/v1/peers", "/v1/sd/node-agent", "/v1/sd/teleport", "/v1/hosts/i-p1", "/metrics")) {
            HttpResponse<String> none = get(path, null);
            assertThat(none.statusCode()).as(path).isEqualTo(401);
            assertThat(none.headers().firstValue("WWW-Authenticate")).as(path).contains("Bearer");
            assertThat(get(path, "wrong-token-wrong-token").statusCode())
                    .as(path)
                    .isEqualTo(401);
            HttpResponse<String> ok = get(path, TOKEN);
            assertThat(ok.statusCode()).as(path).isEqualTo(200);
            assertThat(ok.body()).as(path).doesNotContain(TOKEN);
        }
        HttpResponse<String> basic = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/peers"))
                        .header("Authorization", "Basic " + TOKEN)
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(basic.statusCode()).as("only the Bearer scheme").isEqualTo(401);
    }

    @Test
    void aRotatedTokenFileTakesEffectWithoutARestart() throws Exception {
        current = new Current(inventory(), null);
        Path file = tokenFile(TOKEN);
        start(Optional.of(new BearerToken(file)));
        assertThat(get("/v1/peers", TOKEN).statusCode()).isEqualTo(200);

        String rotated = "rotated-token-fedcba9876543210";
        Files.writeString(file, rotated + "\n");
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(5)));
        assertThat(get("/v1/peers", TOKEN).statusCode()).isEqualTo(401);
        assertThat(get("/v1/peers", rotated).statusCode()).isEqualTo(200);

        // A token file that turns bad keeps the last good token rather than opening the service.
        Files.writeString(file, "short\n");
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(10)));
        assertThat(get("/v1/peers", "short").statusCode()).isEqualTo(401);
        assertThat(get("/v1/peers", rotated).statusCode()).isEqualTo(200);
    }

    static final String DETAIL = "inventory unavailable: region us-west-2 (never discovered: auth: AccessDenied"
            + " (HTTP 403): User: arn:aws:sts::123456789012:assumed-role/x/i-0abc is not authorized)";
    static final List<RegionHealth> NEVER_DISCOVERED =
            List.of(new RegionHealth("us-west-2", RegionStore.Status.UNAVAILABLE, "auth", false));

    @Test
    void withoutAnInventoryEveryDocumentAnswers503WithTheWholeReasonToTokenHolders() throws Exception {
        current = new Current(null, DETAIL, NEVER_DISCOVERED);
        start(Optional.of(new BearerToken(tokenFile(TOKEN))));
        for (String path : DOCUMENTS) {
            HttpResponse<String> r = get(path, TOKEN);
            assertThat(r.statusCode()).as(path).isEqualTo(503);
            assertThat(InventoryBuilder.JSON.readTree(r.body()).path("error").asText())
                    .as(path)
                    .isEqualTo(DETAIL);
        }
        HttpResponse<String> ready = get("/readyz", null);
        assertThat(ready.statusCode()).isEqualTo(503);
        assertThat(InventoryBuilder.JSON.readTree(ready.body()).path("error").asText())
                .isEqualTo("inventory unavailable: region us-west-2 (never discovered: auth)");
        assertThat(ready.body()).doesNotContain("123456789012").doesNotContain("arn:");
        assertThat(get("/healthz", null).statusCode()).isEqualTo(200);

        // The snapshot is read per request: once there is an inventory, it is served.
        current = new Current(inventory(), null);
        assertThat(get("/v1/inventory", TOKEN).statusCode()).isEqualTo(200);
        JsonNode readyNow = InventoryBuilder.JSON.readTree(get("/readyz", null).body());
        assertThat(readyNow.path("status").asText()).isEqualTo("ready");
        assertThat(readyNow.path("generated_at").asText()).isEqualTo("2026-11-21T12:00:00Z");
    }

    @Test
    void withoutATokenA503SaysWhatReadinessSaysAndNothingOfAws() throws Exception {
        current = new Current(null, DETAIL, NEVER_DISCOVERED);
        start(Optional.empty());
        for (String path : DOCUMENTS) {
            HttpResponse<String> r = get(path, null);
            assertThat(r.statusCode()).as(path).isEqualTo(503);
            assertThat(InventoryBuilder.JSON.readTree(r.body()).path("error").asText())
                    .as(path)
                    .isEqualTo("inventory unavailable: region us-west-2 (never discovered: auth)");
        }
        // A rendering refusal names hosts: unauthenticated answers only say where the reason is.
        current = new Current(
                null,
                "two ready proxies share peer address 198.18.1.10:3021: i-p1, i-p2",
                List.of(new RegionHealth("us-west-2", RegionStore.Status.FRESH, null, true)));
        for (String path : List.of("/v1/peers", "/readyz")) {
            String body = get(path, null).body();
            assertThat(body)
                    .as(path)
                    .contains("inventory unavailable: the discovered hosts cannot be served as one inventory; the"
                            + " reason is in the service's log and in the answers to requests with the bearer token")
                    .doesNotContain("i-p1")
                    .doesNotContain("198.18.1.10");
        }
    }

    @Test
    void unknownHostsAndPathsAre404() throws Exception {
        current = new Current(inventory(), null);
        start(Optional.empty());
        HttpResponse<String> host = get("/v1/hosts/i-nothere", null);
        assertThat(host.statusCode()).isEqualTo(404);
        assertThat(InventoryBuilder.JSON.readTree(host.body()).path("error").asText())
                .isEqualTo("no host named i-nothere");
        assertThat(get("/v1/no-such-endpoint", null).statusCode()).isEqualTo(404);
        assertThat(get("/", null).statusCode()).isEqualTo(404);
        assertThat(get("/metrics", null).body())
                .contains("teleport_inventory_http_requests_total{endpoint=\"other\",code=\"404\",} 2.0")
                .contains("teleport_inventory_http_requests_total{endpoint=\"/v1/hosts/{name}\",code=\"404\",} 1.0");
    }

    @Test
    void documentsAreServedAsRenderedAndNeverCached() throws Exception {
        Inventory inv = inventory();
        current = new Current(inv, null);
        start(Optional.empty());
        Map<String, byte[]> bodies = Map.of(
                "/v1/inventory",
                inv.inventoryJson(),
                "/v1/peers",
                inv.peersJson(),
                "/v1/sd/node-agent",
                inv.serviceDiscoveryJson(),
                "/v1/sd/teleport",
                inv.teleportServiceDiscoveryJson());
        for (var e : bodies.entrySet()) {
            HttpResponse<byte[]> r = http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + e.getKey()))
                            .build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertThat(r.statusCode()).as(e.getKey()).isEqualTo(200);
            assertThat(r.headers().firstValue("Cache-Control")).as(e.getKey()).contains("no-store");
            assertThat(r.headers().firstValue("Content-Type"))
                    .as(e.getKey())
                    .hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
            assertThat(r.body()).as(e.getKey()).isEqualTo(e.getValue());
        }
        HttpResponse<String> host = get("/v1/hosts/i-p1", null);
        assertThat(host.headers().firstValue("Cache-Control")).contains("no-store");
        assertThat(AnsibleJson.plain(InventoryBuilder.JSON.readTree(host.body()))
                        .path("teleport_peer_public_addr")
                        .asText())
                .endsWith(":3021");
        assertThat(get("/metrics", null).headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/plain; version=0.0.4"));
    }

    @Test
    void knownHostsAnswersSshWithTheHostsConsoleKeysBehindTheToken() throws Exception {
        current = new Current(inventory(), null);
        String key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM/Uq/BdmQ35WzH/VcglLQhMRWCjuAE9U3vTj/F3GbhT";
        server = new InventoryServer(
                        () -> current,
                        metrics,
                        Optional.of(new BearerToken(tokenFile("t0123456789abcdef0"), SecretFile.forThisProcess())))
                .withKnownHosts(new KnownHosts(new HostKeyStore(
                        (region, id) -> "-----BEGIN SSH HOST KEY KEYS-----\n" + key + " root@x\n"
                                + "-----END SSH HOST KEY KEYS-----\n",
                        java.time.Clock.systemUTC())))
                .start("127.0.0.1", 0);
        assertThat(get("/v1/known_hosts/198.18.1.10", null).statusCode()).isEqualTo(401);
        HttpResponse<String> r = get("/v1/known_hosts/198.18.1.10", "t0123456789abcdef0");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("198.18.1.10 " + key + "\n");
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/plain"));
        assertThat(get("/v1/known_hosts/%5B198.18.1.10%5D:2222", "t0123456789abcdef0")
                        .body())
                .isEqualTo("[198.18.1.10]:2222 " + key + "\n");
        assertThat(get("/v1/known_hosts/198.18.9.9", "t0123456789abcdef0").statusCode())
                .isEqualTo(404);
    }
}
