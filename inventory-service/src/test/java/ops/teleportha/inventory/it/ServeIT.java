package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.AwsClients;
import ops.teleportha.inventory.discovery.Discovery;
import ops.teleportha.inventory.http.BearerToken;
import ops.teleportha.inventory.http.InventoryServer;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.inventory.InventoryService;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.testing.AnsibleJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve} over real HTTP, against moto, with eu-central-1 behind a fault-injecting proxy. */
class ServeIT {
    static final String TOKEN = "it-token-0123456789abcdef";
    static final String AWS_SECRET = "aws-secret-that-must-never-be-printed";
    static MotoServer moto;
    static World world;
    static List<String> westAuth, westProxy, euProxy;

    @TempDir
    Path dir;

    FaultProxy fault;
    AwsClients clients;
    InventoryService service;
    InventoryServer server;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void seed() throws Exception {
        System.setProperty("aws.accessKeyId", "AKIDSERVEIT");
        System.setProperty("aws.secretAccessKey", AWS_SECRET);
        moto = MotoServer.start();
        world = new World(moto.endpoint());
        westAuth = world.group("us-west-2", "tp-auth", "tp.example.com", "auth", 2);
        westProxy = world.group("us-west-2", "tp-proxy", "tp.example.com", "proxy", 2);
        euProxy = world.group("eu-central-1", "tp-proxy", "tp.example.com", "proxy", 2);
    }

    @AfterAll
    static void stopAll() {
        world.close();
        moto.close();
    }

    @BeforeEach
    void proxy() throws Exception {
        fault = new FaultProxy(moto.endpoint());
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (service != null) {
            service.close();
        }
        if (clients != null) {
            clients.close();
        }
        fault.close();
    }

    private void start(String euEndpoint, String extra) throws Exception {
        start(euEndpoint, 6, extra);
    }

    private void start(String euEndpoint, int maxAttempts, String extra) throws Exception {
        Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-------"));
        InventoryConfig c = new ConfigLoader(Map.of("AWS_ENDPOINT_URL", moto.endpoint()))
                .parse("it.yml", """
                cluster: tp.example.com
                regions: [us-west-2, eu-central-1]
                aws:
                  max_attempts: %d
                  region_endpoints:
                    eu-central-1: %s
                serve:
                  listen_addr: 127.0.0.1:0
                  token_file: %s
                """.formatted(maxAttempts, euEndpoint, token) + extra);
        clients = new AwsClients(c);
        InventoryMetrics metrics = new InventoryMetrics("it").withJvmMetrics();
        service = new InventoryService(c, new Discovery(c, clients, Clock.systemUTC()), metrics, Clock.systemUTC());
        server = new InventoryServer(
                        service::current, metrics, c.serve().tokenFile().map(BearerToken::new))
                .start("127.0.0.1", 0);
    }

    private HttpResponse<String> get(String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode json(String path) throws Exception {
        HttpResponse<String> r = get(path, TOKEN);
        assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        return AnsibleJson.plain(InventoryBuilder.JSON.readTree(r.body()));
    }

    @Test
    void everyEndpointButHealthNeedsTheBearerToken() throws Exception {
        start(fault.endpoint(), "");
        service.refresh();
        assertThat(get("/healthz", null).statusCode()).isEqualTo(200);
        assertThat(get("/readyz", null).statusCode()).isEqualTo(200);
        for (String path : List.of(
                "/v1/inventory", "/v1/peers", "/v1/sd/node-agent", "/v1/hosts/" + westAuth.get(0), "/metrics")) {
            assertThat(get(path, null).statusCode()).as(path).isEqualTo(401);
            assertThat(get(path, "wrong-token-wrong-token").statusCode())
                    .as(path)
                    .isEqualTo(401);
            assertThat(get(path, TOKEN).statusCode()).as(path).isEqualTo(200);
        }
        for (String path : List.of("/v1/inventory", "/metrics", "/readyz", "/v1/sd/node-agent")) {
            assertThat(get(path, TOKEN).body()).as(path).doesNotContain(TOKEN).doesNotContain(AWS_SECRET);
        }
    }

    @Test
    void servesInventoryHostsPeersAndServiceDiscovery() throws Exception {
        start(fault.endpoint(), "node_agent:\n  metrics_port: 9811\n");
        service.refresh();
        JsonNode inv = json("/v1/inventory");
        assertThat(inv.path("teleport_proxy_eu_central_1").path("hosts")).hasSize(2);

        JsonNode host = json("/v1/hosts/" + euProxy.get(0));
        assertThat(host.path("aws_region").asText()).isEqualTo("eu-central-1");
        assertThat(get("/v1/hosts/i-nothere", TOKEN).statusCode()).isEqualTo(404);
        assertThat(get("/v1/no-such-endpoint", TOKEN).statusCode()).isEqualTo(404);
        assertThat(get("/metrics", TOKEN).body()).contains("endpoint=\"other\",code=\"404\"");

        JsonNode peers = json("/v1/peers");
        assertThat(peers.path("peers")).hasSize(4);
        assertThat(peers.path("peers").get(0).path("addr").asText()).endsWith(":3021");

        JsonNode sd = json("/v1/sd/node-agent");
        assertThat(sd).hasSize(6);
        assertThat(sd.get(0).path("targets").get(0).asText()).matches("198\\.18\\.\\d+\\.\\d+:9811");
        JsonNode teleport = json("/v1/sd/teleport");
        assertThat(teleport).hasSize(6);
        assertThat(teleport.get(0).path("targets").get(0).asText()).matches("198\\.18\\.\\d+\\.\\d+:3000");
        assertThat(teleport.get(0).path("labels")).isEqualTo(sd.get(0).path("labels"));

        String metrics = get("/metrics", TOKEN).body();
        assertThat(metrics)
                .contains("teleport_inventory_hosts{region=\"eu-central-1\",role=\"proxy\",state=\"ready\",} 2.0");
        assertThat(metrics).contains("teleport_inventory_ready 1.0");
        assertThat(metrics).contains("jvm_memory_bytes_used");
    }

    @Test
    void throttlingIsRetriedWithBackoff() throws Exception {
        start(fault.endpoint(), "");
        fault.fail(FaultProxy.Mode.THROTTLE, 3);
        InventoryService.Current c = service.refresh();
        assertThat(c.error()).isNull();
        assertThat(fault.faults()).isEqualTo(3);
        assertThat(c.inventory().staleRegions()).isEmpty();
        assertThat(get("/metrics", TOKEN).body())
                .contains("teleport_inventory_region_refreshes_total{region=\"eu-central-1\",result=\"success\",} 1.0");
    }

    @Test
    void aFailingRegionServesItsLastGoodDataMarkedStale() throws Exception {
        start(fault.endpoint(), "");
        service.refresh();
        fault.failAlways(FaultProxy.Mode.AUTH_FAILURE);
        service.refresh();

        JsonNode inv = json("/v1/inventory");
        assertThat(inv.path("all").path("vars").path("teleport_inventory_stale_regions"))
                .extracting(JsonNode::asText)
                .containsExactly("eu-central-1");
        assertThat(inv.path("teleport_proxy_eu_central_1").path("hosts")).hasSize(2);
        assertThat(json("/v1/peers").path("stale_regions"))
                .extracting(JsonNode::asText)
                .containsExactly("eu-central-1");
        HttpResponse<String> ready = get("/readyz", null);
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).contains("eu-central-1");
        String metrics = get("/metrics", TOKEN).body();
        assertThat(metrics).contains("teleport_inventory_region_stale{region=\"eu-central-1\",} 1.0");
        assertThat(metrics).contains("teleport_inventory_region_stale{region=\"us-west-2\",} 0.0");
        assertThat(metrics)
                .contains(
                        "teleport_inventory_region_refresh_failures_total{region=\"eu-central-1\",reason=\"auth\",} 1.0");

        fault.pass();
        service.refresh();
        assertThat(json("/v1/inventory").path("all").path("vars").path("teleport_inventory_stale_regions"))
                .isEmpty();
        assertThat(get("/metrics", TOKEN).body())
                .contains("teleport_inventory_region_stale{region=\"eu-central-1\",} 0.0");
    }

    @Test
    void readinessNamesTheFailingRegionAndItsFailureClassButNotWhatAwsSaid() throws Exception {
        start(fault.endpoint(), 1, "");
        fault.failAlways(FaultProxy.Mode.ACCESS_DENIED);
        service.refresh();

        HttpResponse<String> missing = get("/readyz", null);
        assertThat(missing.statusCode()).isEqualTo(503);
        JsonNode body = InventoryBuilder.JSON.readTree(missing.body());
        assertThat(body.path("status").asText()).isEqualTo("unavailable");
        assertThat(body.path("error").asText())
                .isEqualTo("inventory unavailable: region eu-central-1 (never discovered: auth)");
        assertThat(body.path("regions").toString())
                .isEqualTo("[{\"region\":\"us-west-2\",\"status\":\"fresh\"},"
                        + "{\"region\":\"eu-central-1\",\"status\":\"unavailable\",\"reason\":\"auth\"}]");
        assertNothingOfTheCaller(missing.body());
        // Whoever holds the token may read AWS's words: the operator's way to the cause, beside the log.
        assertThat(get("/v1/inventory", TOKEN).body()).contains(FaultProxy.DENIED_CALLER);
        assertNothingOfTheCaller(get("/metrics", TOKEN).body());

        fault.pass();
        service.refresh();
        fault.failAlways(FaultProxy.Mode.ACCESS_DENIED);
        service.refresh();
        HttpResponse<String> stale = get("/readyz", null);
        assertThat(stale.statusCode()).isEqualTo(200);
        assertThat(InventoryBuilder.JSON.readTree(stale.body()).path("regions").toString())
                .isEqualTo("[{\"region\":\"us-west-2\",\"status\":\"fresh\"},"
                        + "{\"region\":\"eu-central-1\",\"status\":\"stale\",\"reason\":\"auth\"}]");
        assertNothingOfTheCaller(stale.body());
    }

    private static void assertNothingOfTheCaller(String unauthenticated) {
        assertThat(unauthenticated)
                .doesNotContain("123456789012")
                .doesNotContain("arn:")
                .doesNotContain("assumed-role")
                .doesNotContain("i-0abc")
                .doesNotContain("not authorized");
    }

    @Test
    void aRegionThatNeverSucceededIsAnErrorNamingTheRegion() throws Exception {
        start(fault.endpoint(), 2, "");
        fault.failAlways(FaultProxy.Mode.SERVER_ERROR);
        service.refresh();
        for (String path : List.of("/v1/inventory", "/v1/peers", "/v1/sd/node-agent", "/v1/hosts/" + westAuth.get(0))) {
            HttpResponse<String> r = get(path, TOKEN);
            assertThat(r.statusCode()).as(path).isEqualTo(503);
            assertThat(r.body()).as(path).contains("region eu-central-1 (never discovered");
        }
        assertThat(get("/readyz", null).statusCode()).isEqualTo(503);
        assertThat(get("/metrics", TOKEN).body()).contains("teleport_inventory_ready 0.0");
    }

    @Test
    void anUnreachableEndpointIsReportedAsSuch() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        start("http://127.0.0.1:" + closed, "");
        service.refresh();
        HttpResponse<String> r = get("/v1/inventory", TOKEN);
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).contains("region eu-central-1 (never discovered: unreachable");
        assertThat(get("/metrics", TOKEN).body())
                .contains(
                        "teleport_inventory_region_refresh_failures_total{region=\"eu-central-1\",reason=\"unreachable\",} 1.0");
    }

    @Test
    void theBackgroundRefreshMakesTheServiceReady() throws Exception {
        start(fault.endpoint(), "refresh:\n  interval: 1s\n");
        service.startBackgroundRefresh();
        Poll.until(
                Duration.ofSeconds(30),
                "/readyz answers 200",
                () -> get("/readyz", null).statusCode() == 200);
        // And it keeps refreshing: a second successful refresh of each region shows in the counters.
        Poll.until(
                Duration.ofSeconds(30),
                "a second refresh of eu-central-1",
                () -> get("/metrics", TOKEN)
                        .body()
                        .contains(
                                "teleport_inventory_region_refreshes_total{region=\"eu-central-1\",result=\"success\",} 2.0"));
    }

    @Test
    void aTokenFileReadableByEveryoneIsRefused() throws Exception {
        Path token = Files.writeString(dir.resolve("open-token"), TOKEN);
        Files.setPosixFilePermissions(token, PosixFilePermissions.fromString("rw-r--r--"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new BearerToken(token))
                .hasMessageContaining("serve.token_file: " + token + " is readable by every user; run chmod 0600");
    }
}
