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
import ops.teleportha.agent.Threads;
import ops.teleportha.config.HostPort;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.peers.ProbeResult;

/**
 * {@code /metrics}, {@code /healthz} and {@code /v1/peers/status} on the JDK's built-in HTTP server:
 * a few hundred KiB less heap and a dozen fewer threads than Jetty. Port 0 binds an ephemeral port (tests).
 */
public final class AgentHttpServer implements AutoCloseable {
    private final HttpServer server;

    /**
     * @param problems what is wrong with the agent right now (stalled loops); empty when healthy
     */
    public AgentHttpServer(HostPort listen, AgentMetrics metrics, Supplier<PeerMonitor.Status> peers,
                           Supplier<java.util.List<String>> problems) throws IOException {
        server = HttpServer.create(new InetSocketAddress(listen.host(), listen.port()), 16);
        server.setExecutor(Executors.newSingleThreadExecutor(Threads.daemon("http")));
        server.createContext("/metrics", ex -> {
            if (!get(ex)) return;
            StringWriter w = new StringWriter();
            TextFormat.write004(w, metrics.registry().metricFamilySamples());
            send(ex, 200, TextFormat.CONTENT_TYPE_004, w.toString());
        });
        server.createContext("/healthz", ex -> {
            if (!get(ex)) return;
            java.util.List<String> wrong = problems.get();
            if (wrong.isEmpty()) {
                send(ex, 200, "text/plain; charset=utf-8", "ok\n");
            } else {
                send(ex, 503, "text/plain; charset=utf-8", String.join("\n", wrong) + "\n");
            }
        });
        server.createContext("/v1/peers/status", ex -> {
            if (!get(ex)) return;
            send(ex, 200, "application/json", peersJson(peers == null ? null : peers.get()));
        });
        server.createContext("/", ex -> send(ex, 404, "text/plain; charset=utf-8",
                "not found; try /metrics, /healthz or /v1/peers/status\n"));
    }

    static String peersJson(PeerMonitor.Status status) {
        StringBuilder b = new StringBuilder("{\"peers\":[");
        if (status != null) {
            boolean first = true;
            for (ProbeResult r : status.peers()) {
                if (!first) b.append(',');
                first = false;
                b.append("{\"peer\":").append(Json.quote(r.peer()))
                        .append(",\"up\":").append(r.up())
                        .append(",\"outcome\":").append(Json.quote(r.outcome().label()))
                        .append(",\"connect_seconds\":").append(Json.number(r.connectSeconds()))
                        .append(",\"tls_handshake_seconds\":").append(Json.number(r.handshakeSeconds()))
                        .append(",\"detail\":").append(Json.quote(r.detail()))
                        .append(",\"checked_at\":").append(Json.quote(String.valueOf(r.checkedAt())))
                        .append('}');
            }
        }
        b.append("],\"checked_at\":").append(status == null || status.checkedAt() == null ? "null" : Json.quote(status.checkedAt().toString()));
        if (status != null) b.append(",\"cycle_seconds\":").append(Json.number(status.cycleSeconds()));
        return b.append("}\n").toString();
    }

    private static boolean get(HttpExchange ex) throws IOException {
        if (ex.getRequestMethod().equals("GET") || ex.getRequestMethod().equals("HEAD")) return true;
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
            if (!head) out.write(bytes);
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
