package ops.teleportha.agent.tls;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.List;

/** A parsed certificate chain (leaf first) and its private key. */
public record PemPair(List<X509Certificate> chain, PrivateKey key) {
    public PemPair {
        chain = List.copyOf(chain);
    }

    public X509Certificate leaf() {
        return chain.get(0);
    }

    public String leafFingerprint() {
        return fingerprint(leaf());
    }

    /** SHA-256 of the DER encoding, lower-case hex, as {@code openssl x509 -fingerprint -sha256} shows it. */
    public static String fingerprint(X509Certificate cert) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }
}
