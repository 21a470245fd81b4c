package ops.teleportha.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.List;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.peers.ProbeOutcome;
import ops.teleportha.agent.peers.ProbeResult;
import ops.teleportha.agent.tls.TlsStatus;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AgentHttpServerTest {
    AgentHttpServer server;
    HttpClient client = HttpClient.newHttpClient();
    AgentMetrics metrics;
    volatile PeerMonitor.Status status;
    volatile List<String> problems = List.of();
    volatile TlsStatus tls = TlsStatus.NONE;

    @BeforeEach
    void start() throws Exception {
        metrics = new AgentMetrics(new CollectorRegistry(), "1.2.3", true);
        server = new AgentHttpServer(new HostPort("127.0.0.1", 0), metrics, () -> status, () -> tls, () -> problems);
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> get(String path) throws Exception {
        return client.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void servesPrometheusTextWithPrefixedMetricsAndJvmMetrics() throws Exception {
        metrics.peerSet(List.of("a:3021"));
        metrics.peerResult("a:3021", true, 0.001, 0.01, null);
        HttpResponse<String> r = get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/plain; version=0.0.4"));
        assertThat(r.body())
                .contains("teleport_node_agent_build_info{version=\"1.2.3\"")
                .contains("teleport_node_agent_peer_up{peer=\"a:3021\",} 1.0")
                .contains("teleport_node_agent_peers 1.0")
                .contains("teleport_node_agent_tls_rotations_total{result=\"rolled_back\",} 0.0")
                .contains("jvm_memory_bytes_used")
                .contains("process_resident_memory_bytes");
    }

    @Test
    void servesPeerStatusAsJson() throws Exception {
        Instant at = Instant.parse("2026-11-21T20:00:00Z");
        status = new PeerMonitor.Status(
                List.of(
                        new ProbeResult(
                                "a:3021", ProbeOutcome.CLIENT_CERT_REQUIRED, 0.001, 0.02, "TLSv1.3, \"quoted\"", at),
                        new ProbeResult("b:3021", ProbeOutcome.REFUSED, null, null, "Connection refused", at)),
                at,
                0.5);
        HttpResponse<String> r = get("/v1/peers/status");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body())
                .isEqualTo("{\"peers\":["
                        + "{\"peer\":\"a:3021\",\"up\":true,\"outcome\":\"client_cert_required\",\"connect_seconds\":0.001,"
                        + "\"tls_handshake_seconds\":0.02,\"detail\":\"TLSv1.3, \\\"quoted\\\"\",\"checked_at\":\"2026-11-21T20:00:00Z\"},"
                        + "{\"peer\":\"b:3021\",\"up\":false,\"outcome\":\"refused\",\"connect_seconds\":null,"
                        + "\"tls_handshake_seconds\":null,\"detail\":\"Connection refused\",\"checked_at\":\"2026-11-21T20:00:00Z\"}],"
                        + "\"checked_at\":\"2026-11-21T20:00:00Z\",\"cycle_seconds\":0.5}\n");
    }

    @Test
    void answersHealthAndRefusesOtherMethodsAndPaths() throws Exception {
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
        problems = List.of("peers: no probe cycle since 2026-11-21T20:00:00Z");
        HttpResponse<String> stalled = get("/healthz");
        assertThat(stalled.statusCode()).isEqualTo(503);
        assertThat(stalled.body()).contains("peers: no probe cycle since");
        assertThat(get("/nope").statusCode()).isEqualTo(404);
        var post = client.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                        .POST(HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
    }

    @Test
    void servesTlsStatusAsJson() throws Exception {
        assertThat(get("/v1/tls/status").body())
                .isEqualTo(
                        "{\"enabled\":true,\"installed\":null,\"last_rotation\":null,\"served\":null,\"checked_at\":null}\n");

        Instant at = Instant.parse("2026-11-21T20:00:00Z");
        tls = new TlsStatus(
                new TlsStatus.Installed(
                        "ab12",
                        Instant.parse("2026-11-20T00:00:00Z"),
                        Instant.parse("2027-02-18T00:00:00Z"),
                        List.of("teleport.example.com", "*.teleport.example.com")),
                new TlsStatus.Rotation(
                        "rolled_back", "not_confirmed", "tls.verify.addr 127.0.0.1:3080 did not serve \"it\"", at),
                new TlsStatus.Served("ab12", Instant.parse("2026-11-20T00:00:05Z")),
                at);
        HttpResponse<String> r = get("/v1/tls/status");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).contains("application/json");
        assertThat(r.body())
                .isEqualTo("{\"enabled\":true,"
                        + "\"installed\":{\"fingerprint_sha256\":\"ab12\",\"not_before\":\"2026-11-20T00:00:00Z\",\"not_after\":\"2027-02-18T00:00:00Z\","
                        + "\"names\":[\"teleport.example.com\",\"*.teleport.example.com\"]},"
                        + "\"last_rotation\":{\"result\":\"rolled_back\",\"reason\":\"not_confirmed\","
                        + "\"detail\":\"tls.verify.addr 127.0.0.1:3080 did not serve \\\"it\\\"\",\"at\":\"2026-11-21T20:00:00Z\"},"
                        + "\"served\":{\"fingerprint_sha256\":\"ab12\",\"confirmed_at\":\"2026-11-20T00:00:05Z\"},"
                        + "\"checked_at\":\"2026-11-21T20:00:00Z\"}\n");
        var head = client.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/tls/status"))
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(head.statusCode()).isEqualTo(200);
    }

    @Test
    void tlsStatusSaysSoWhenRotationIsOff() throws Exception {
        try (AgentHttpServer off =
                new AgentHttpServer(new HostPort("127.0.0.1", 0), metrics, null, null, () -> problems)) {
            off.start();
            HttpResponse<String> r = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + off.port() + "/v1/tls/status"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body())
                    .isEqualTo(
                            "{\"enabled\":false,\"installed\":null,\"last_rotation\":null,\"served\":null,\"checked_at\":null}\n");
            HttpResponse<String> peers = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + off.port() + "/v1/peers/status"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(peers.body()).isEqualTo("{\"peers\":[],\"checked_at\":null}\n");
        }
    }
}
