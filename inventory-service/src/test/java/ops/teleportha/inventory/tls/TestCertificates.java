package ops.teleportha.inventory.tls;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * Self-signed pairs for 127.0.0.1 made by the JDK's own keytool (no library, no openssl), written as the PEM files
 * an operator installs: PKCS#8, or the traditional PKCS#1 / SEC1 forms openssl writes.
 */
public final class TestCertificates {
    private static final AtomicInteger N = new AtomicInteger();

    public record Pair(X509Certificate cert, PrivateKey key) {
        public String certPem() {
            return pem("CERTIFICATE", encoded(cert));
        }

        public String pkcs8Pem() {
            return pem("PRIVATE KEY", key.getEncoded());
        }

        /** {@code RSA PRIVATE KEY} (PKCS#1) or {@code EC PARAMETERS} + {@code EC PRIVATE KEY} (SEC1), as openssl writes. */
        public String traditionalPem() {
            Pem.Der info = new Pem.Der(new Pem.Der(key.getEncoded()).content(0x30)); // PrivateKeyInfo
            info.skip(0x02); // version
            Pem.Der algorithm = new Pem.Der(info.content(0x30));
            algorithm.skip(0x06); // the key type
            byte[] inner = info.content(0x04);
            if (key.getAlgorithm().equals("RSA")) {
                return pem("RSA PRIVATE KEY", inner);
            }
            // The JDK leaves the curve out of the inner ECPrivateKey; openssl writes it in [0].
            byte[] curve = Pem.tlv(0x06, algorithm.content(0x06));
            Pem.Der sec1 = new Pem.Der(new Pem.Der(inner).content(0x30));
            byte[] version = Pem.tlv(0x02, sec1.content(0x02));
            byte[] privateKey = Pem.tlv(0x04, sec1.content(0x04));
            return pem("EC PARAMETERS", curve)
                    + pem("EC PRIVATE KEY", Pem.sequence(version, privateKey, Pem.tlv(0xa0, curve)));
        }

        /** Writes the pair as cert_file and key_file (0600). */
        public void writeTo(Path certFile, Path keyFile, String keyPem) throws IOException {
            Files.writeString(certFile, certPem());
            Files.writeString(keyFile, keyPem);
            Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
        }
    }

    private TestCertificates() {}

    /** keytool takes a second or more per pair on a busy machine: each named pair is made once per JVM. */
    private static final Map<String, Pair> MADE = new ConcurrentHashMap<>();

    /** An EC P-256 pair valid from a day ago for three days, for 127.0.0.1 and localhost; one per name. */
    public static Pair ec(String name) {
        return MADE.computeIfAbsent("ec " + name, n -> make("-keyalg", "EC", "-groupname", "secp256r1"));
    }

    public static Pair rsa(String name) {
        return MADE.computeIfAbsent("rsa " + name, n -> make("-keyalg", "RSA", "-keysize", "2048"));
    }

    public static Pair ed25519(String name) {
        return MADE.computeIfAbsent("ed25519 " + name, n -> make("-keyalg", "Ed25519"));
    }

    /** An EC pair that expired yesterday. */
    public static Pair expired(String name) {
        return MADE.computeIfAbsent(
                "expired " + name,
                n -> make("-keyalg", "EC", "-groupname", "secp256r1", "-startdate", "-3d", "-validity", "2"));
    }

    private static Pair make(String... keyArgs) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("keytool");
            String alias = "t" + N.incrementAndGet();
            Path store = dir.resolve(alias + ".p12");
            List<String> cmd = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                    "-genkeypair",
                    "-alias",
                    alias,
                    "-dname",
                    "CN=inventory-" + alias,
                    "-ext",
                    "SAN=ip:127.0.0.1,dns:localhost",
                    "-keystore",
                    store.toString(),
                    "-storetype",
                    "PKCS12",
                    "-storepass",
                    "changeit",
                    "-keypass",
                    "changeit"));
            cmd.addAll(Arrays.asList(keyArgs));
            if (!cmd.contains("-validity")) {
                cmd.addAll(List.of("-startdate", "-1d", "-validity", "3"));
            }
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("keytool failed: " + out);
            }
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(store)) {
                ks.load(in, "changeit".toCharArray());
            }
            Files.delete(store);
            return new Pair((X509Certificate) ks.getCertificate(alias), (PrivateKey)
                    ks.getKey(alias, "changeit".toCharArray()));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            if (dir != null) {
                dir.toFile().delete();
            }
        }
    }

    /** A client context that trusts exactly these certificates (and checks the name, as a real client does). */
    public static SSLContext trusting(X509Certificate... certs) {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            for (int i = 0; i < certs.length; i++) {
                ks.setCertificateEntry("c" + i, certs[i]);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The certificate the server at 127.0.0.1:port presents, over a handshake offering only {@code protocols}. */
    public static X509Certificate presented(int port, SSLContext ctx, String... protocols) throws IOException {
        try (Socket raw = new Socket("127.0.0.1", port);
                SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, "127.0.0.1", port, true)) {
            if (protocols.length > 0) {
                s.setEnabledProtocols(protocols);
            }
            s.startHandshake();
            return (X509Certificate) s.getSession().getPeerCertificates()[0];
        }
    }

    /** For observing which certificate is served while it rotates: trusts anything, checks nothing. */
    public static SSLContext observing() {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(
                    null,
                    new javax.net.ssl.TrustManager[] {
                        new X509TrustManager() {
                            @Override
                            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public X509Certificate[] getAcceptedIssuers() {
                                return new X509Certificate[0];
                            }
                        }
                    },
                    null);
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] encoded(X509Certificate c) {
        try {
            return c.getEncoded();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                        .encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
