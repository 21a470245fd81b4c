package ops.teleportha.agent.http;

import io.prometheus.client.exporter.common.TextFormat;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import ops.teleportha.agent.Json;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.peers.ProbeResult;
import ops.teleportha.agent.tls.TlsStatus;
import ops.teleportha.config.HostPort;

/**
 * {@code /metrics}, {@code /healthz}, {@code /v1/peers/status} and {@code /v1/tls/status}, served by
 * {@link BoundedHttpServer}: one selector thread and a few workers instead of Jetty's dozen threads, and no
 * client can stall the others. Port 0 binds an ephemeral port (tests).
 */
public final class AgentHttpServer implements AutoCloseable {
    /**
     * Fixed, not configurable: the config has no http section, and nothing legitimate comes near them. Prometheus
     * and /healthz pollers send a head of a few hundred bytes in one packet and no body; answers are computed
     * from memory in milliseconds. The deadlines only bound how long a broken or hostile client holds one of
     * the connection slots. 4 workers answer 4 scrapes at once on the 2-vCPU hosts; more would only cost
     * memory (bench/README.md), and idle workers exit after a minute.
     */
    static final BoundedHttpServer.Limits LIMITS = new BoundedHttpServer.Limits(
            Duration.ofSeconds(5), // request head (and body) read deadline, from accept
            Duration.ofSeconds(10), // answer write deadline; /metrics is tens of KiB
            Duration.ofSeconds(1), // wait for the client's close after the answer
            8 * 1024, // request line + headers: Jetty's default requestHeaderSize
            4 * 1024, // request body; the endpoints read none
            32, // open connections
            4); // worker threads

    private static final String TEXT = "text/plain; charset=utf-8";

    private final BoundedHttpServer server;
    private final AgentMetrics metrics;
    private final Supplier<PeerMonitor.Status> peers;
    private final Supplier<TlsStatus> tls;
    private final Supplier<List<String>> problems;

    /**
     * @param peers the last probe cycle; {@code null} when peer probes are off
     * @param tls the TLS rotator's status; {@code null} when TLS rotation is off
     * @param problems what is wrong with the agent right now (stalled loops); empty when healthy
     */
    public AgentHttpServer(
            HostPort listen,
            AgentMetrics metrics,
            Supplier<PeerMonitor.Status> peers,
            Supplier<TlsStatus> tls,
            Supplier<List<String>> problems)
            throws IOException {
        this(listen, metrics, peers, tls, problems, LIMITS);
    }

    AgentHttpServer(
            HostPort listen,
            AgentMetrics metrics,
            Supplier<PeerMonitor.Status> peers,
            Supplier<TlsStatus> tls,
            Supplier<List<String>> problems,
            BoundedHttpServer.Limits limits)
            throws IOException {
        this.metrics = metrics;
        this.peers = peers;
        this.tls = tls;
        this.problems = problems;
        this.server = new BoundedHttpServer(new InetSocketAddress(listen.host(), listen.port()), limits, this::handle);
    }

    private BoundedHttpServer.Response handle(String method, String path) {
        Supplier<BoundedHttpServer.Response> endpoint = switch (path) {
            case "/metrics" -> this::metrics;
            case "/healthz" -> this::health;
            case "/v1/peers/status" ->
                () -> new BoundedHttpServer.Response(
                        200, "application/json", peersJson(peers == null ? null : peers.get()));
            case "/v1/tls/status" ->
                () -> new BoundedHttpServer.Response(200, "application/json", tlsJson(tls == null ? null : tls.get()));
            default -> null;
        };
        if (endpoint == null) {
            return new BoundedHttpServer.Response(
                    404, TEXT, "not found; try /metrics, /healthz, /v1/peers/status or /v1/tls/status\n");
        }
        if (!method.equals("GET") && !method.equals("HEAD")) {
            return new BoundedHttpServer.Response(405, TEXT, "method not allowed\n", Map.of("Allow", "GET, HEAD"));
        }
        return endpoint.get();
    }

    private BoundedHttpServer.Response metrics() {
        StringWriter w = new StringWriter();
        try {
            TextFormat.write004(w, metrics.registry().metricFamilySamples());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not throw
        }
        return new BoundedHttpServer.Response(200, TextFormat.CONTENT_TYPE_004, w.toString());
    }

    private BoundedHttpServer.Response health() {
        List<String> wrong = problems.get();
        return wrong.isEmpty()
                ? new BoundedHttpServer.Response(200, TEXT, "ok\n")
                : new BoundedHttpServer.Response(503, TEXT, String.join("\n", wrong) + "\n");
    }

    static String peersJson(PeerMonitor.Status status) {
        StringBuilder b = new StringBuilder("{\"peers\":[");
        if (status != null) {
            boolean first = true;
            for (ProbeResult r : status.peers()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                b.append("{\"peer\":")
                        .append(Json.quote(r.peer()))
                        .append(",\"up\":")
                        .append(r.up())
                        .append(",\"outcome\":")
                        .append(Json.quote(r.outcome().label()))
                        .append(",\"connect_seconds\":")
                        .append(Json.number(r.connectSeconds()))
                        .append(",\"tls_handshake_seconds\":")
                        .append(Json.number(r.handshakeSeconds()))
                        .append(",\"detail\":")
                        .append(Json.quote(r.detail()))
                        .append(",\"checked_at\":")
                        .append(Json.quote(String.valueOf(r.checkedAt())))
                        .append('}');
            }
        }
        b.append("],\"checked_at\":")
                .append(
                        status == null || status.checkedAt() == null
                                ? "null"
                                : Json.quote(status.checkedAt().toString()));
        if (status != null) {
            b.append(",\"cycle_seconds\":").append(Json.number(status.cycleSeconds()));
        }
        return b.append("}\n").toString();
    }

    /** @param status {@code null} when TLS rotation is off */
    static String tlsJson(TlsStatus status) {
        StringBuilder b = new StringBuilder("{\"enabled\":").append(status != null);
        TlsStatus s = status == null ? TlsStatus.NONE : status;
        b.append(",\"installed\":");
        if (s.installed() == null) {
            b.append("null");
        } else {
            b.append("{\"fingerprint_sha256\":")
                    .append(Json.quote(s.installed().fingerprintSha256()))
                    .append(",\"not_before\":")
                    .append(Json.time(s.installed().notBefore()))
                    .append(",\"not_after\":")
                    .append(Json.time(s.installed().notAfter()))
                    .append(",\"names\":")
                    .append(Json.strings(s.installed().names()))
                    .append('}');
        }
        b.append(",\"last_rotation\":");
        if (s.lastRotation() == null) {
            b.append("null");
        } else {
            b.append("{\"result\":")
                    .append(Json.quote(s.lastRotation().result()))
                    .append(",\"reason\":")
                    .append(Json.quote(s.lastRotation().reason()))
                    .append(",\"detail\":")
                    .append(Json.quote(s.lastRotation().detail()))
                    .append(",\"at\":")
                    .append(Json.time(s.lastRotation().at()))
                    .append('}');
        }
        b.append(",\"served\":");
        if (s.served() == null) {
            b.append("null");
        } else {
            b.append("{\"fingerprint_sha256\":")
                    .append(Json.quote(s.served().fingerprintSha256()))
                    .append(",\"confirmed_at\":")
                    .append(Json.time(s.served().confirmedAt()))
                    .append('}');
        }
        b.append(",\"checked_at\":").append(Json.time(s.checkedAt()));
        return b.append("}\n").toString();
    }

    public void start() {
        server.start();
    }

    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        server.close();
    }
}
