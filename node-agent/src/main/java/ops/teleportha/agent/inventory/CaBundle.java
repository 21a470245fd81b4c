package ops.teleportha.agent.inventory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import ops.teleportha.agent.Log;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;

/**
 * A PEM bundle of the CAs to trust for one HTTPS service, and only those: the JVM's trust store plays no
 * part. The file is read again at every use, so a rotated bundle counts from the next request on without a
 * restart, and one that has turned bad fails that request rather than falling back to other CAs.
 */
public final class CaBundle {
    /** A CA bundle is a few KiB; the whole Mozilla bundle is about 220 KiB. */
    static final int MAX_BYTES = 1024 * 1024;

    private final Path file;
    /** What the last call read, to log a change once. */
    private byte[] lastBytes;

    public CaBundle(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /**
     * A socket factory trusting the file's certificates as they are now, from a new TLS context: no session
     * of an earlier call is resumed, so every handshake checks the server's certificate against the bundle as
     * it was read for it.
     *
     * @throws IOException naming the file and what is wrong with it
     */
    public synchronized SSLSocketFactory socketFactory() throws IOException {
        byte[] bytes = readBounded(file);
        List<X509Certificate> cas = parse(file, bytes);
        SSLSocketFactory factory;
        try {
            KeyStore anchors = KeyStore.getInstance(KeyStore.getDefaultType());
            anchors.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                anchors.setCertificateEntry("ca-" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(anchors);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, tmf.getTrustManagers(), null);
            factory = context.getSocketFactory();
        } catch (GeneralSecurityException e) {
            throw new IOException(file + ": cannot build a TLS context from it: " + e.getMessage(), e);
        }
        if (lastBytes != null && !Arrays.equals(bytes, lastBytes)) {
            Log.info("inventory", file + " changed: now trusting " + describe(cas));
        }
        lastBytes = bytes;
        return factory;
    }

    /**
     * Reads and checks a bundle: at least one {@code CERTIFICATE} block, every one parsing, and nothing else.
     *
     * @throws IOException whose message names the file and the fix
     */
    public static List<X509Certificate> read(Path file) throws IOException {
        return parse(file, readBounded(file));
    }

    private static byte[] readBounded(Path file) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (NoSuchFileException e) {
            throw new IOException("cannot read " + file + ": no such file", e);
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e, e);
        }
        if (bytes.length > MAX_BYTES) {
            throw new IOException(file + " is larger than " + MAX_BYTES + " bytes, too large for a CA bundle");
        }
        return bytes;
    }

    private static List<X509Certificate> parse(Path file, byte[] bytes) throws IOException {
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        if (!text.contains("-----BEGIN ") && bytes.length > 0 && bytes[0] == 0x30) {
            throw new IOException(file + " is binary DER, not PEM: convert it with openssl x509 -inform DER -in " + file
                    + " -out " + file + ".pem");
        }
        List<PemObject> blocks = new ArrayList<>();
        try (PemReader reader = new PemReader(new StringReader(text))) {
            PemObject block;
            while ((block = reader.readPemObject()) != null) {
                blocks.add(block);
            }
        } catch (IOException | RuntimeException e) {
            throw new IOException(file + ": PEM does not parse (truncated?): " + e.getMessage(), e);
        }
        List<X509Certificate> out = new ArrayList<>();
        for (PemObject block : blocks) {
            if (!block.getType().equals("CERTIFICATE")) {
                // The type only: the block may be a key, which must never reach a log.
                throw new IOException(file + " holds a '" + block.getType()
                        + "' block, but only CERTIFICATE blocks belong in a CA bundle"
                        + (block.getType().contains("PRIVATE KEY")
                                ? " (remove the key: this file is not secret)"
                                : ""));
            }
            try {
                out.add((X509Certificate)
                        certificateFactory().generateCertificate(new ByteArrayInputStream(block.getContent())));
            } catch (CertificateException e) {
                throw new IOException(
                        file + ": certificate " + (out.size() + 1) + " does not parse: " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IOException(file + " holds no '-----BEGIN CERTIFICATE-----' block: it must be the PEM of the"
                    + " CA (or CAs) that issued the inventory service's certificate");
        }
        return out;
    }

    private static CertificateFactory certificateFactory() {
        try {
            return CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
        }
    }

    /** Subjects and expiries, for the log. */
    static String describe(List<X509Certificate> cas) {
        List<String> parts = new ArrayList<>();
        for (X509Certificate c : cas) {
            parts.add(c.getSubjectX500Principal().getName() + " (not after "
                    + c.getNotAfter().toInstant() + ")");
        }
        return cas.size() + " certificate" + (cas.size() == 1 ? "" : "s") + ": " + String.join(", ", parts);
    }
}
