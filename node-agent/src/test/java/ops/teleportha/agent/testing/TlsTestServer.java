package ops.teleportha.agent.testing;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Supplier;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real TLS server on 127.0.0.1 for tests. The pair comes from a supplier on every connection, so it can
 * serve "whatever is installed now", like Teleport after a reload.
 */
public final class TlsTestServer implements AutoCloseable {
    public record Pair(List<X509Certificate> chain, PrivateKey key) {}

    private final ServerSocket server;
    private final Thread thread;
    private Pair lastPair;
    private SSLContext lastContext;

    public TlsTestServer(Supplier<Pair> pair, boolean requireClientCert) throws IOException {
        this(pair, requireClientCert, new String[0]);
    }

    /** Serves only {@code protocols} ("TLSv1.3", ...); none given: the JDK's defaults. */
    public TlsTestServer(Supplier<Pair> pair, boolean requireClientCert, String... protocols) throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        thread = new Thread(
                () -> {
                    while (!server.isClosed()) {
                        try {
                            Socket plain = server.accept();
                            SSLContext ctx = contextFor(pair.get(), requireClientCert);
                            Thread t = new Thread(() -> serve(plain, ctx, requireClientCert, protocols));
                            t.setDaemon(true);
                            t.start();
                        } catch (IOException e) {
                            return;
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                },
                "tls-test-server");
        thread.setDaemon(true);
        thread.start();
    }

    /** Building a context is slow (PKCS#12); reuse it while the pair is the same. */
    private SSLContext contextFor(Pair pair, boolean requireClientCert) throws Exception {
        if (!pair.equals(lastPair)) {
            lastContext = context(pair, requireClientCert);
            lastPair = pair;
        }
        return lastContext;
    }

    private static void serve(Socket plain, SSLContext ctx, boolean requireClientCert, String[] protocols) {
        try (plain) {
            try (SSLSocket tls = (SSLSocket) ctx.getSocketFactory().createSocket(plain, null, plain.getPort(), false)) {
                tls.setUseClientMode(false);
                tls.setNeedClientAuth(requireClientCert);
                if (protocols.length > 0) {
                    tls.setEnabledProtocols(protocols);
                }
                tls.setSoTimeout(10_000);
                tls.startHandshake();
                InputStream in = tls.getInputStream();
                while (in.read() >= 0) {
                    // hold the connection until the client goes
                }
            }
        } catch (Exception e) {
            // a failed handshake is what some tests want
        }
    }

    private static SSLContext context(Pair pair, boolean requireClientCert) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("server", pair.key(), "pw".toCharArray(), pair.chain().toArray(new X509Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, "pw".toCharArray());
        SSLContext ctx = SSLContext.getInstance("TLS");
        TrustManagerFactory tmf = null;
        if (requireClientCert) {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", pair.chain().get(pair.chain().size() - 1));
            tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
        }
        ctx.init(kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
        return ctx;
    }

    public int port() {
        return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
