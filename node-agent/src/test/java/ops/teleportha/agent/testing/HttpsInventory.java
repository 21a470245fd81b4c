package ops.teleportha.agent.testing;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;

/**
 * The inventory service's {@code /v1/peers} over HTTPS on 127.0.0.1, port 0, answering {@link #TOKEN}
 * holders with {@link #answer(String)}'s body, with a certificate issued by a {@link TestPki}.
 */
public final class HttpsInventory implements AutoCloseable {
    public static final String TOKEN = "s3cret-token-0123456789";

    private final HttpsServer server;
    private final AtomicInteger answered = new AtomicInteger();
    private volatile String body = "{\"peers\":[]}";
    private volatile SSLContext current;

    public HttpsInventory(TestPki pki, TestPki.Issued leaf) throws IOException {
        serve(pki, leaf);
        server = HttpsServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
        // The server's configurator is fixed once it runs: it gets a context whose engines come from the current one.
        server.setHttpsConfigurator(new HttpsConfigurator(new Switching()));
        server.createContext("/v1/peers", ex -> {
            boolean authorised =
                    ("Bearer " + TOKEN).equals(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] out = (authorised ? body : "{\"error\":\"unauthorised\"}").getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(authorised ? 200 : 401, out.length);
            ex.getResponseBody().write(out);
            ex.close();
            answered.incrementAndGet();
        });
        server.start();
    }

    /**
     * New connections get this leaf (and {@code pki}'s intermediate), from a new TLS context, so that no
     * session of the previous certificate is resumed.
     */
    public void serve(TestPki pki, TestPki.Issued leaf) {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("server", leaf.keys().getPrivate(), "pw".toCharArray(), new X509Certificate[] {
                leaf.cert(), pki.intermediate.cert()
            });
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, "pw".toCharArray());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            current = ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** An {@link SSLContext} whose engines, and so whose session caches, are those of the current context. */
    private final class Switching extends SSLContext {
        Switching() {
            super(
                    new SSLContextSpi() {
                        @Override
                        protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom random) {
                            throw new UnsupportedOperationException();
                        }

                        @Override
                        protected SSLSocketFactory engineGetSocketFactory() {
                            return current.getSocketFactory();
                        }

                        @Override
                        protected SSLServerSocketFactory engineGetServerSocketFactory() {
                            return current.getServerSocketFactory();
                        }

                        @Override
                        protected SSLEngine engineCreateSSLEngine() {
                            return current.createSSLEngine();
                        }

                        @Override
                        protected SSLEngine engineCreateSSLEngine(String host, int port) {
                            return current.createSSLEngine(host, port);
                        }

                        @Override
                        protected SSLSessionContext engineGetServerSessionContext() {
                            return current.getServerSessionContext();
                        }

                        @Override
                        protected SSLSessionContext engineGetClientSessionContext() {
                            return current.getClientSessionContext();
                        }
                    },
                    current.getProvider(),
                    "TLS");
        }
    }

    public void answer(String body) {
        this.body = body;
    }

    /** Requests answered (a failed handshake never reaches the handler). */
    public int answered() {
        return answered.get();
    }

    /** {@code https://<host>:<port>/v1/peers}; the host must resolve to 127.0.0.1. */
    public URI url(String host) {
        return URI.create("https://" + host + ":" + server.getAddress().getPort() + "/v1/peers");
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
