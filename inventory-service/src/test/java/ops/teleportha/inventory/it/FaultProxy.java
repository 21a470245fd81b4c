package ops.teleportha.inventory.it;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP proxy in front of moto that can answer like a throttled, unauthorised or broken AWS
 * endpoint, so failure handling is tested over the wire with the SDK's own retry logic.
 */
public final class FaultProxy implements AutoCloseable {
    public enum Mode {
        PASS,
        THROTTLE,
        AUTH_FAILURE,
        /** 403 whose message names the caller, as IAM's denials do: {@link #DENIED_CALLER}. */
        ACCESS_DENIED,
        SERVER_ERROR
    }

    /** The caller an {@link Mode#ACCESS_DENIED} answer names: an account id, a role and an instance id. */
    public static final String DENIED_CALLER = "arn:aws:sts::123456789012:assumed-role/x/i-0abc";

    private static final Set<String> HOP =
            Set.of("host", "content-length", "connection", "transfer-encoding", "expect", "upgrade");
    private final HttpServer server;
    private final HttpClient client = HttpClient.newHttpClient();
    private final String target;
    private volatile Mode mode = Mode.PASS;
    private final AtomicInteger faultsLeft = new AtomicInteger();
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger faults = new AtomicInteger();

    public FaultProxy(String target) throws IOException {
        this.target = target;
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    /** Answer the next {@code count} requests in {@code mode}, then pass through again. */
    public void fail(Mode mode, int count) {
        faultsLeft.set(count);
        this.mode = mode;
    }

    /** Answer every request in {@code mode} until told otherwise. */
    public void failAlways(Mode mode) {
        fail(mode, Integer.MAX_VALUE);
    }

    public void pass() {
        this.mode = Mode.PASS;
    }

    public int requests() {
        return requests.get();
    }

    public int faults() {
        return faults.get();
    }

    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readAllBytes();
        }
        Mode m = mode;
        if (m != Mode.PASS && faultsLeft.getAndDecrement() > 0) {
            faults.incrementAndGet();
            boolean ec2 = new String(body, StandardCharsets.UTF_8).contains("Action=DescribeInstances");
            switch (m) {
                case THROTTLE ->
                    reply(ex, 400, error(ec2, ec2 ? "RequestLimitExceeded" : "Throttling", "Rate exceeded"));
                case AUTH_FAILURE ->
                    reply(
                            ex,
                            403,
                            error(
                                    ec2,
                                    ec2 ? "AuthFailure" : "InvalidClientTokenId",
                                    "The security token included in the request is invalid."));
                case ACCESS_DENIED ->
                    reply(
                            ex,
                            403,
                            error(
                                    ec2,
                                    ec2 ? "UnauthorizedOperation" : "AccessDenied",
                                    "User: " + DENIED_CALLER + " is not authorized to perform: "
                                            + (ec2 ? "ec2:DescribeInstances" : "autoscaling:DescribeAutoScalingGroups")
                                            + " because no identity-based policy allows the action"));
                default -> reply(ex, 500, "internal error".getBytes(StandardCharsets.UTF_8));
            }
            return;
        }
        if (m != Mode.PASS) {
            mode = Mode.PASS;
        }
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(target + ex.getRequestURI()))
                .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body));
        ex.getRequestHeaders().forEach((k, vs) -> {
            if (!HOP.contains(k.toLowerCase())) {
                vs.forEach(v -> req.header(k, v));
            }
        });
        try {
            HttpResponse<byte[]> resp = client.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
            resp.headers().map().forEach((k, vs) -> {
                if (!HOP.contains(k.toLowerCase()) && !k.startsWith(":")) {
                    vs.forEach(v -> ex.getResponseHeaders().add(k, v));
                }
            });
            reply(ex, resp.statusCode(), resp.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            reply(ex, 502, new byte[0]);
        }
    }

    private static byte[] error(boolean ec2, String code, String message) {
        String xml = ec2
                ? "<Response><Errors><Error><Code>" + code + "</Code><Message>" + message
                        + "</Message></Error></Errors><RequestID>fault</RequestID></Response>"
                : "<ErrorResponse><Error><Type>Sender</Type><Code>" + code + "</Code><Message>" + message
                        + "</Message></Error><RequestId>fault</RequestId></ErrorResponse>";
        return xml.getBytes(StandardCharsets.UTF_8);
    }

    private static void reply(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
