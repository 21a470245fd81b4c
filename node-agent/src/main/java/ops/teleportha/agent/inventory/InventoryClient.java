package ops.teleportha.agent.inventory;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocketFactory;

/**
 * One GET of the inventory service's {@code /v1/peers}: the bearer token read from its file at every call (a
 * rotated token is picked up, and it is never logged), no redirects (they would carry the token elsewhere),
 * a bounded answer. Over https the certificate must chain to the CAs of {@code peers.inventory_ca_file}
 * when it is set (else the JVM's trust store) and name the URL's host.
 */
public final class InventoryClient {
    private static final int HTTP_TIMEOUT_MILLIS = 10_000;
    static final int MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

    private final URI url;
    private final Path tokenFile;
    private final CaBundle ca;

    /**
     * @param tokenFile {@code null}: no token
     * @param caFile {@code null}: the JVM's trust store
     */
    public InventoryClient(URI url, Path tokenFile, Path caFile) {
        this.url = url;
        this.tokenFile = tokenFile;
        this.ca = caFile == null ? null : new CaBundle(caFile);
    }

    /** @return the answer's body */
    public String fetch() throws IOException {
        HttpURLConnection c = (HttpURLConnection) url.toURL().openConnection();
        c.setConnectTimeout(HTTP_TIMEOUT_MILLIS);
        c.setReadTimeout(HTTP_TIMEOUT_MILLIS);
        c.setInstanceFollowRedirects(false);
        c.setRequestProperty("Accept", "application/json");
        if (c instanceof HttpsURLConnection https && ca != null) {
            // The default host name verifier stays: with it the JDK checks, during the handshake, that the
            // certificate names the URL's host (an IP SAN when the URL has an address).
            https.setSSLSocketFactory(peersCa());
        }
        if (tokenFile != null) {
            String token = Files.readString(tokenFile, StandardCharsets.UTF_8).strip();
            c.setRequestProperty("Authorization", "Bearer " + token);
        }
        try {
            int status;
            try {
                status = c.getResponseCode();
            } catch (SSLException e) {
                throw new IOException(tlsProblem(e), e);
            }
            if (status != 200) {
                throw new IOException("HTTP " + status
                        + (status == 401 || status == 403 ? " (check peers.inventory_token_file)" : ""));
            }
            byte[] body;
            try (InputStream in = c.getInputStream()) {
                body = in.readNBytes(MAX_RESPONSE_BYTES + 1);
            }
            if (body.length > MAX_RESPONSE_BYTES) {
                throw new IOException("response larger than " + MAX_RESPONSE_BYTES + " bytes");
            }
            return new String(body, StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    private SSLSocketFactory peersCa() throws IOException {
        try {
            return ca.socketFactory();
        } catch (IOException e) {
            throw new IOException("peers.inventory_ca_file: " + e.getMessage(), e);
        }
    }

    private String tlsProblem(SSLException e) {
        String host = url.getHost();
        boolean address = host.startsWith("[") || host.matches("[0-9.]+");
        return "TLS with " + host + ":" + port() + " failed: " + e.getMessage() + "; its certificate must chain to "
                + (ca == null
                        ? "a CA of the JVM's trust store (or set peers.inventory_ca_file)"
                        : "a CA in peers.inventory_ca_file (" + ca.file() + ")")
                + " and name " + host + (address ? " in an IP address SAN" : "");
    }

    private int port() {
        return url.getPort() >= 0 ? url.getPort() : url.getScheme().equals("https") ? 443 : 80;
    }
}
