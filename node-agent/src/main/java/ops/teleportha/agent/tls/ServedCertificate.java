package ops.teleportha.agent.tls;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.GeneralSecurityException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import ops.teleportha.config.HostPort;

/** Asks a local TLS server which certificate it serves: a handshake, no trust decision, a fingerprint. */
public final class ServedCertificate {
    private ServedCertificate() {}

    /** SHA-256 fingerprint of the served leaf. */
    public static String fingerprint(HostPort addr, String serverName, int timeoutMillis) throws IOException {
        SSLContext ctx;
        try {
            ctx = AcceptAnyServer.context(null);
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket()) {
            s.connect(new InetSocketAddress(addr.host(), addr.port()), timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            if (serverName != null && !serverName.isBlank()) {
                SSLParameters p = s.getSSLParameters();
                p.setServerNames(List.of(new SNIHostName(serverName)));
                s.setSSLParameters(p);
            }
            s.startHandshake();
            Certificate[] chain = s.getSession().getPeerCertificates();
            return PemPair.fingerprint((X509Certificate) chain[0]);
        }
    }
}
