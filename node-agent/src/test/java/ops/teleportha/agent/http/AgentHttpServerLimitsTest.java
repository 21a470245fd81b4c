package ops.teleportha.agent.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.tls.TlsStatus;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Hostile clients over raw sockets: half-sent requests, oversized heads and bodies, too many connections. */
class AgentHttpServerLimitsTest {
    static final String HALF = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"; // no blank line: never finished
    static final String HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

    final List<Socket> clients = new ArrayList<>();
    AgentHttpServer server;

    private AgentHttpServer start(BoundedHttpServer.Limits limits) throws IOException {
        server = new AgentHttpServer(
                new HostPort("127.0.0.1", 0),
                new AgentMetrics(new CollectorRegistry(), "test", false),
                null,
                () -> TlsStatus.NONE,
                List::of,
                limits);
        server.start();
        return server;
    }

    /** The agent's limits with a short read deadline, to watch it cut clients off. */
    private static BoundedHttpServer.Limits readDeadline(Duration d) {
        BoundedHttpServer.Limits l = AgentHttpServer.LIMITS;
        return new BoundedHttpServer.Limits(
                d,
                l.responseWriteTimeout(),
                l.lingerTimeout(),
                l.maxHeadBytes(),
                l.maxBodyBytes(),
                l.maxConnections(),
                l.workers());
    }

    @AfterEach
    void stop() throws IOException {
        for (Socket s : clients) {
            s.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private Socket connect() throws IOException {
        Socket s = new Socket();
        clients.add(s);
        s.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
        return s;
    }

    private Socket halfSent() throws IOException {
        Socket s = connect();
        s.getOutputStream().write(HALF.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        return s;
    }

    /** Sends the request and reads until the server closes, or for at most {@code within}. */
    private String exchange(String request, Duration within) throws IOException {
        Socket s = connect();
        s.setSoTimeout((int) within.toMillis());
        try {
            s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
        } catch (SocketException e) {
            // refused before it read everything; its answer is still there to read
        }
        return readToEnd(s, within);
    }

    /** What arrived until the server closed; ends with a marker when it did not close within {@code within}. */
    private static String readToEnd(Socket s, Duration within) throws IOException {
        long deadline = System.nanoTime() + within.toNanos();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        InputStream in = s.getInputStream();
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                got.write(buf, 0, n);
                s.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
        } catch (SocketTimeoutException e) {
            return got.toString(StandardCharsets.ISO_8859_1) + "[still open after " + within + "]";
        } catch (SocketException reset) {
            // a reset after the answer; what arrived before it counts
        }
        return got.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void halfSentRequestsDoNotDelayAnotherClient() throws Exception {
        start(AgentHttpServer.LIMITS);
        for (int i = 0; i < 2 * AgentHttpServer.LIMITS.workers(); i++) {
            halfSent();
        }
        // Well within the read deadline of the half-sent requests: they are all still open.
        Duration within = AgentHttpServer.LIMITS.requestReadTimeout().dividedBy(2);
        long started = System.nanoTime();

        String answer = exchange(HEALTHZ, within);

        assertThat(answer).startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok\n");
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(within);
    }

    @Test
    void cutsOffARequestNotReceivedWithinTheDeadlineEvenWhenItTrickles() throws Exception {
        Duration deadline = Duration.ofMillis(500);
        start(readDeadline(deadline));
        Socket idle = halfSent();
        Socket trickling = connect();
        long started = System.nanoTime();
        Thread dripper = new Thread(() -> {
            try {
                OutputStream out = trickling.getOutputStream();
                for (byte b : HALF.getBytes(StandardCharsets.US_ASCII)) { // 40 bytes: 4 s at this pace
                    out.write(b);
                    out.flush();
                    Thread.sleep(100); // the client's pace, well under the deadline per byte
                }
            } catch (IOException | InterruptedException cutOff) {
                // what the server is meant to do
            }
        });
        dripper.start();

        String idleAnswer = readToEnd(idle, Duration.ofSeconds(5));
        String tricklingAnswer = readToEnd(trickling, Duration.ofSeconds(5));
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        dripper.interrupt();
        dripper.join();

        assertThat(idleAnswer).startsWith("HTTP/1.1 408 ");
        assertThat(tricklingAnswer).startsWith("HTTP/1.1 408 ");
        assertThat(took).isBetween(deadline.minusMillis(50), deadline.plusSeconds(2));
        assertThat(exchange(HEALTHZ, Duration.ofSeconds(5))).startsWith("HTTP/1.1 200 ");
    }

    @Test
    void refusesOversizedRequestHeaders() throws Exception {
        start(AgentHttpServer.LIMITS);
        String big = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Filler: "
                + "a".repeat(2 * AgentHttpServer.LIMITS.maxHeadBytes()) + "\r\n\r\n";

        assertThat(exchange(big, Duration.ofSeconds(10))).startsWith("HTTP/1.1 431 ");
    }

    @Test
    void refusesARequestBodyOverTheLimit() throws Exception {
        start(AgentHttpServer.LIMITS);
        String post =
                "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 10000000\r\n\r\n"
                        + "x".repeat(1000);

        assertThat(exchange(post, Duration.ofSeconds(10))).startsWith("HTTP/1.1 413 ");
    }

    @Test
    void readsAndIgnoresASmallBody() throws Exception {
        start(AgentHttpServer.LIMITS);
        String post =
                "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";

        assertThat(exchange(post, Duration.ofSeconds(10)))
                .startsWith("HTTP/1.1 405 ")
                .contains("\r\nAllow: GET, HEAD\r\n");
    }

    @Test
    void refusesConnectionsOverTheLimitInsteadOfQueueingThem() throws Exception {
        start(AgentHttpServer.LIMITS);
        List<Socket> stalled = new ArrayList<>();
        for (int i = 0; i < AgentHttpServer.LIMITS.maxConnections(); i++) {
            stalled.add(halfSent());
        }

        // Refused at once, not queued until a slot frees up at the read deadline.
        assertThat(exchange(HEALTHZ, AgentHttpServer.LIMITS.requestReadTimeout().dividedBy(2)))
                .startsWith("HTTP/1.1 503 ");

        for (Socket s : stalled) {
            s.close();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        String answer;
        do {
            assertThat(System.nanoTime())
                    .as("a slot frees up when a client leaves")
                    .isLessThan(deadline);
            answer = exchange(HEALTHZ, Duration.ofSeconds(5));
        } while (!answer.startsWith("HTTP/1.1 200 "));
    }
}
