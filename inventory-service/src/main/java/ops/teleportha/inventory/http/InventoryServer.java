package ops.teleportha.inventory.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpStatus;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Supplier;
import ops.teleportha.inventory.hostkeys.KnownHosts;
import ops.teleportha.inventory.inventory.Inventory;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.inventory.InventoryService.Current;
import ops.teleportha.inventory.inventory.ReadinessDocument;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.tls.ServingCertificate;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The HTTP face of {@code serve}. Every endpoint but {@code /healthz} and {@code /readyz} needs the
 * bearer token when one is configured. Documents are pre-rendered, so a request is a memory copy.
 * Answers that need no token never carry AWS's error messages ({@link ReadinessDocument}).
 */
public final class InventoryServer implements AutoCloseable {
    private static final String JSON = "application/json";
    private final Javalin app;
    private volatile KnownHosts knownHosts;

    private volatile String listenHost;
    private volatile int listenPort;

    /** Plain HTTP: for loopback only (the config refuses anything else without TLS). */
    public InventoryServer(Supplier<Current> current, InventoryMetrics metrics, Optional<BearerToken> token) {
        this(current, metrics, token, Optional.empty());
    }

    /**
     * @param current what to serve now; called once per request
     * @param tls when present, the only connector speaks HTTPS with it
     */
    public InventoryServer(
            Supplier<Current> current,
            InventoryMetrics metrics,
            Optional<BearerToken> token,
            Optional<ServingCertificate> tls) {
        this.app = Javalin.create(cfg -> {
            cfg.showJavalinBanner = false;
            cfg.http.defaultContentType = JSON;
            // Every answer is a copy of a rendered document: a few threads serve hundreds of node-agents and
            // Prometheus; Jetty's default pool (up to 250, 8 kept) only costs memory here.
            QueuedThreadPool pool = new QueuedThreadPool(16, 4, 60_000);
            pool.setName("http");
            cfg.jetty.threadPool = pool;
            // With a connector of ours, Javalin adds none of its own: this one is the only way in.
            tls.ifPresent(t -> cfg.jetty.addConnector((server, http) -> httpsConnector(server, http, t)));
        });
        app.beforeMatched(ctx -> {
            String path = ctx.endpointHandlerPath();
            if (path.equals("/healthz") || path.equals("/readyz")) {
                return;
            }
            if (token.isPresent() && !token.get().matches(ctx.header("Authorization"))) {
                ctx.header("WWW-Authenticate", "Bearer");
                ctx.status(HttpStatus.UNAUTHORIZED).json(error("missing or wrong bearer token"));
                ctx.skipRemainingHandlers();
            }
        });
        app.after(ctx -> {
            String endpoint = ctx.endpointHandlerPath();
            metrics.recordRequest(endpoint.startsWith("/") ? endpoint : "other", ctx.statusCode());
        });

        app.get("/healthz", ctx -> ctx.contentType("text/plain").result("ok\n"));
        // Unauthenticated: region status and failure classes only (ReadinessDocument).
        app.get("/readyz", ctx -> {
            Current c = current.get();
            ctx.status(c.inventory() != null ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
                    .json(ReadinessDocument.render(c));
        });
        app.get(
                "/metrics",
                ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                        .result(metrics.scrape()
                                + tls.map(ServingCertificate::scrapeMetrics).orElse("")));
        // Without a token nobody proved who they are: a 503 then says what /readyz says, not AWS's words.
        Function<Current, String> unavailable = token.isPresent() ? Current::error : ReadinessDocument::publicError;
        app.get("/v1/inventory", ctx -> serve(ctx, current, unavailable, Inventory::inventoryJson));
        app.get("/v1/peers", ctx -> serve(ctx, current, unavailable, Inventory::peersJson));
        app.get("/v1/sd/node-agent", ctx -> serve(ctx, current, unavailable, Inventory::serviceDiscoveryJson));
        app.get("/v1/sd/teleport", ctx -> serve(ctx, current, unavailable, Inventory::teleportServiceDiscoveryJson));
        app.get("/v1/hosts/{name}", ctx -> {
            Current c = current.get();
            if (c.inventory() == null) {
                ctx.status(HttpStatus.SERVICE_UNAVAILABLE).json(error(unavailable.apply(c)));
                return;
            }
            byte[] vars = c.inventory().hostvarsJson(ctx.pathParam("name"));
            if (vars == null) {
                ctx.status(HttpStatus.NOT_FOUND).json(error("no host named " + ctx.pathParam("name")));
                return;
            }
            ctx.header("Cache-Control", "no-store");
            ctx.contentType(JSON).result(vars);
        });
        app.get("/v1/known_hosts/{host}", ctx -> {
            Current c = current.get();
            if (c.inventory() == null) {
                ctx.status(HttpStatus.SERVICE_UNAVAILABLE).json(error(unavailable.apply(c)));
                return;
            }
            if (knownHosts == null) {
                ctx.status(HttpStatus.NOT_FOUND).json(error("host keys are not served by this instance"));
                return;
            }
            KnownHosts.Answer a = knownHosts.answer(c.inventory(), ctx.pathParam("host"));
            ctx.header("Cache-Control", "no-store");
            if (!a.found()) {
                ctx.status(HttpStatus.NOT_FOUND).json(error(a.problem()));
                return;
            }
            ctx.contentType("text/plain; charset=utf-8").result(a.lines());
        });
        // Unmatched paths get Javalin's own 404 JSON; a custom 404 mapper here would also rewrite the
        // unknown-host answer above, and reading the endpoint in it fails for unmatched paths (500).
    }

    private static void serve(
            Context ctx,
            Supplier<Current> current,
            Function<Current, String> unavailable,
            Function<Inventory, byte[]> doc) {
        Current c = current.get();
        if (c.inventory() == null) {
            ctx.status(HttpStatus.SERVICE_UNAVAILABLE).json(error(unavailable.apply(c)));
            return;
        }
        ctx.header("Cache-Control", "no-store");
        ctx.contentType(JSON).result(doc.apply(c.inventory()));
    }

    private static ObjectNode error(String message) {
        ObjectNode n = InventoryBuilder.JSON.createObjectNode();
        n.put("error", message);
        return n;
    }

    private ServerConnector httpsConnector(Server server, HttpConfiguration http, ServingCertificate tls) {
        HttpConfiguration https = new HttpConfiguration(http);
        // No SNI host check: clients connect by address as often as by name; verifying the name is theirs.
        https.addCustomizer(new SecureRequestCustomizer(false, false, -1, false));
        ServerConnector connector = new ServerConnector(
                server,
                new SslConnectionFactory(tls.sslContextFactory(), HttpVersion.HTTP_1_1.asString()),
                new HttpConnectionFactory(https));
        connector.setHost(listenHost);
        connector.setPort(listenPort);
        return connector;
    }

    /** Serves {@code /v1/known_hosts/{host}} from these host keys (SSH's KnownHostsCommand, through the script). */
    public InventoryServer withKnownHosts(KnownHosts hostKeys) {
        this.knownHosts = hostKeys;
        return this;
    }

    public InventoryServer start(String host, int port) {
        this.listenHost = host;
        this.listenPort = port;
        app.start(host, port);
        return this;
    }

    public int port() {
        return app.port();
    }

    @Override
    public void close() {
        app.stop();
    }
}
