package ops.teleportha.agent.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * PEM parsing with BouncyCastle. Certificates: one or more {@code CERTIFICATE} blocks. Keys: PKCS#1
 * ({@code RSA PRIVATE KEY}), SEC1 ({@code EC PRIVATE KEY}) or PKCS#8 ({@code PRIVATE KEY}, which covers
 * RSA, EC and Ed25519) — what Go's {@code tls.X509KeyPair}, and so Teleport, accepts.
 */
public final class PemCodec {
    private PemCodec() {}

    public static List<X509Certificate> certificates(byte[] pem, String what) throws RejectedCandidate {
        rejectDer(pem, what, "x509");
        List<X509Certificate> certs = new ArrayList<>();
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        try (PEMParser parser = parser(pem)) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (o instanceof X509CertificateHolder holder) {
                    certs.add(converter.getCertificate(holder));
                } else {
                    throw new RejectedCandidate(
                            RejectReason.MALFORMED_PEM,
                            what + ": holds a " + kind(o)
                                    + " where only CERTIFICATE blocks belong (leaf first, then chain)");
                }
            }
        } catch (IOException | CertificateException | RuntimeException e) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM, what + ": PEM does not parse (truncated or corrupt?): " + oneLine(e));
        }
        if (certs.isEmpty()) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM, what + ": no '-----BEGIN CERTIFICATE-----' block found");
        }
        return certs;
    }

    public static PrivateKey privateKey(byte[] pem, String what) throws RejectedCandidate {
        rejectDer(pem, what, "pkey");
        PrivateKey key = null;
        try (PEMParser parser = parser(pem)) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (o instanceof ASN1ObjectIdentifier) {
                    continue; // "EC PARAMETERS" block that `openssl ecparam -genkey` writes before the key
                }
                if (o instanceof PEMEncryptedKeyPair || o instanceof PKCS8EncryptedPrivateKeyInfo) {
                    throw new RejectedCandidate(
                            RejectReason.ENCRYPTED_KEY,
                            what
                                    + ": the private key is encrypted; Teleport cannot use a passphrase, write it unencrypted"
                                    + " (openssl pkey -in tls.key -out tls.key.plain)");
                }
                PrivateKeyInfo info;
                if (o instanceof PEMKeyPair pair) {
                    info = pair.getPrivateKeyInfo();
                } else if (o instanceof PrivateKeyInfo pki) {
                    info = pki;
                } else {
                    throw new RejectedCandidate(
                            RejectReason.MALFORMED_PEM, what + ": holds a " + kind(o) + " where a private key belongs");
                }
                if (key != null) {
                    throw new RejectedCandidate(RejectReason.MALFORMED_PEM, what + ": holds more than one private key");
                }
                if (X9ObjectIdentifiers.id_ecPublicKey.equals(
                        info.getPrivateKeyAlgorithm().getAlgorithm())) {
                    String curve = Curves.of(info.getPrivateKeyAlgorithm());
                    if (!Curves.supported(curve)) {
                        // The JDK would load it and then fail to sign with it, which reads as a key mismatch.
                        throw new RejectedCandidate(
                                RejectReason.UNSUPPORTED_CURVE,
                                what + ": the EC key is on " + Curves.describe(curve)
                                        + "; Teleport (Go's crypto/tls) and browsers only use " + Curves.SUPPORTED_NAMES
                                        + "; issue a new key on P-256");
                    }
                }
                try {
                    key = new JcaPEMKeyConverter().getPrivateKey(info);
                } catch (IOException | RuntimeException e) {
                    throw new RejectedCandidate(
                            RejectReason.UNSUPPORTED_KEY,
                            what + ": unsupported private key ("
                                    + info.getPrivateKeyAlgorithm().getAlgorithm() + "): " + oneLine(e));
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM, what + ": PEM does not parse (truncated or corrupt?): " + oneLine(e));
        }
        if (key == null) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM, what + ": no '-----BEGIN ... PRIVATE KEY-----' block found");
        }
        return key;
    }

    /**
     * The chain as PEM, one {@code CERTIFICATE} block per certificate and nothing else: what is installed, so that
     * text around the blocks in a dropped file (bag attributes, comments, trailing bytes) never reaches Teleport.
     */
    public static byte[] encodeCertificates(List<X509Certificate> chain) {
        StringBuilder b = new StringBuilder();
        for (X509Certificate c : chain) {
            try {
                block(b, "CERTIFICATE", c.getEncoded());
            } catch (CertificateEncodingException e) {
                throw new IllegalStateException("a parsed certificate does not encode", e);
            }
        }
        return b.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** The key as one PKCS#8 {@code PRIVATE KEY} block, whatever encoding it was dropped in. */
    public static byte[] encodePrivateKey(PrivateKey key) {
        if (!"PKCS#8".equals(key.getFormat()) || key.getEncoded() == null) {
            throw new IllegalStateException("a parsed " + key.getAlgorithm() + " key has no PKCS#8 encoding");
        }
        StringBuilder b = new StringBuilder();
        block(b, "PRIVATE KEY", key.getEncoded());
        return b.toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static void block(StringBuilder b, String type, byte[] der) {
        b.append("-----BEGIN ").append(type).append("-----\n");
        String base64 = Base64.getEncoder().encodeToString(der);
        for (int i = 0; i < base64.length(); i += 64) {
            b.append(base64, i, Math.min(base64.length(), i + 64)).append('\n');
        }
        b.append("-----END ").append(type).append("-----\n");
    }

    private static PEMParser parser(byte[] pem) {
        return new PEMParser(new InputStreamReader(new ByteArrayInputStream(pem), StandardCharsets.US_ASCII));
    }

    /** DER is an ASN.1 SEQUENCE: tag 0x30 first. Say so, with the conversion command. */
    private static void rejectDer(byte[] data, String what, String opensslCmd) throws RejectedCandidate {
        if (data.length > 1
                && (data[0] & 0xff) == 0x30
                && !new String(data, StandardCharsets.ISO_8859_1).contains("-----BEGIN")) {
            throw new RejectedCandidate(
                    RejectReason.DER_NOT_PEM,
                    what + ": is DER (binary), not PEM; convert it: openssl " + opensslCmd
                            + " -inform DER -in FILE -out FILE.pem");
        }
    }

    private static String kind(Object o) {
        return o.getClass().getSimpleName();
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s+", " ").trim();
    }
}
