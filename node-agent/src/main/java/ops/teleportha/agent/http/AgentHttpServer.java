package ops.teleportha.agent.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.client.exporter.common.TextFormat;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import ops.teleportha.agent.Json;
import ops.teleportha.agent.Threads;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.peers.ProbeResult;
import ops.teleportha.agent.tls.TlsStatus;
import ops.teleportha.config.HostPort;

/**
 * {@code /metrics}, {@code /healthz}, {@code /v1/peers/status} and {@code /v1/tls/status} on the JDK's built-in HTTP server:
 * a few hundred KiB less heap and a dozen fewer threads than Jetty. Port 0 binds an ephemeral port (tests).
 */
public final class AgentHttpServer implements AutoCloseable {
    private final HttpServer server;

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
            Supplier<java.util.List<String>> problems)
            throws IOException {
        server = HttpServer.create(new InetSocketAddress(listen.host(), listen.port()), 16);
        server.setExecutor(Executors.newSingleThreadExecutor(Threads.daemon("http")));
        server.createContext("/metrics", ex -> {
            if (!get(ex)) {
                return;
            }
            StringWriter w = new StringWriter();
            TextFormat.write004(w, metrics.registry().metricFamilySamples());
            send(ex, 200, TextFormat.CONTENT_TYPE_004, w.toString());
        });
        server.createContext("/healthz", ex -> {
            if (!get(ex)) {
                return;
            }
            java.util.List<String> wrong = problems.get();
            if (wrong.isEmpty()) {
                send(ex, 200, "text/plain; charset=utf-8", "ok\n");
            } else {
                send(ex, 503, "text/plain; charset=utf-8", String.join("\n", wrong) + "\n");
            }
        });
        server.createContext("/v1/peers/status", ex -> {
            if (!get(ex)) {
                return;
            }
            send(ex, 200, "application/json", peersJson(peers == null ? null : peers.get()));
        });
        server.createContext("/v1/tls/status", ex -> {
            if (!get(ex)) {
                return;
            }
            send(ex, 200, "application/json", tlsJson(tls == null ? null : tls.get()));
        });
        server.createContext(
                "/",
                ex -> send(
                        ex,
                        404,
                        "text/plain; charset=utf-8",
                        "not found; try /metrics, /healthz, /v1/peers/status or /v1/tls/status\n"));
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

    private static boolean get(HttpExchange ex) throws IOException {
        if (ex.getRequestMethod().equals("GET") || ex.getRequestMethod().equals("HEAD")) {
            return true;
        }
        ex.getResponseHeaders().set("Allow", "GET, HEAD");
        send(ex, 405, "text/plain; charset=utf-8", "method not allowed\n");
        return false;
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            if (!head) {
                out.write(bytes);
            }
        }
        ex.close();
    }

    public void start() {
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
}
