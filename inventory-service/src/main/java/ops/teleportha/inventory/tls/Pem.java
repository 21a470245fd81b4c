package ops.teleportha.inventory.tls;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM with the JDK alone. Certificates: {@code CERTIFICATE} blocks, leaf first. Private keys: PKCS#8 ({@code
 * PRIVATE KEY}: RSA, EC or Ed25519), PKCS#1 ({@code RSA PRIVATE KEY}) and SEC1 ({@code EC PRIVATE KEY}, with the
 * {@code EC PARAMETERS} block {@code openssl ecparam -genkey} writes before it): what openssl, certbot and ACME
 * clients write. The traditional forms are wrapped into PKCS#8, the one form the JDK's key factories read.
 * Messages never quote the key.
 */
final class Pem {
    private static final Pattern BLOCK =
            Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----\\s*(.*?)-----END \\1-----", Pattern.DOTALL);
    /** AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters. */
    private static final byte[] RSA_ALGORITHM = {
        0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00
    };
    /** OID id-ecPublicKey (1.2.840.10045.2.1). */
    private static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01
    };

    private Pem() {}

    private record Block(String type, String body) {}

    /** @throws IllegalArgumentException saying what the file holds instead */
    static List<X509Certificate> certificates(byte[] pem) {
        List<X509Certificate> certs = new ArrayList<>();
        for (Block b : blocks(pem, "x509")) {
            if (!b.type().equals("CERTIFICATE")) {
                throw new IllegalArgumentException("holds a " + b.type()
                        + " block where only CERTIFICATE blocks belong (the server's certificate, then its chain)");
            }
            try {
                certs.add((X509Certificate) CertificateFactory.getInstance("X.509")
                        .generateCertificate(new ByteArrayInputStream(decode(b))));
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException(
                        "certificate " + (certs.size() + 1) + " does not parse: " + oneLine(e), e);
            }
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException("no '-----BEGIN CERTIFICATE-----' block found");
        }
        return certs;
    }

    /** @throws IllegalArgumentException saying what is wrong, never what the key is */
    static PrivateKey privateKey(byte[] pem) {
        PrivateKey key = null;
        for (Block b : blocks(pem, "pkey")) {
            byte[] pkcs8 = switch (b.type()) {
                case "EC PARAMETERS" -> null; // the curve again, before the key: the key names it too
                case "PRIVATE KEY" -> decode(b);
                case "RSA PRIVATE KEY" -> pkcs8(RSA_ALGORITHM, decode(b));
                case "EC PRIVATE KEY" -> {
                    byte[] sec1 = decode(b);
                    yield pkcs8(sequence(EC_PUBLIC_KEY_OID, sec1Curve(sec1)), sec1);
                }
                case "ENCRYPTED PRIVATE KEY" -> throw encrypted();
                default ->
                    throw new IllegalArgumentException("holds a " + b.type() + " block where a private key belongs");
            };
            if (pkcs8 == null) {
                continue;
            }
            if (key != null) {
                throw new IllegalArgumentException("holds more than one private key");
            }
            key = parsePkcs8(pkcs8);
        }
        if (key == null) {
            throw new IllegalArgumentException("no '-----BEGIN ... PRIVATE KEY-----' block found");
        }
        return key;
    }

    private static PrivateKey parsePkcs8(byte[] der) {
        for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException | RuntimeException e) {
                // not this algorithm: try the next
            }
        }
        throw new IllegalArgumentException("the private key is not an RSA, EC (P-256, P-384, P-521) or Ed25519 key"
                + " the JDK can read; write it as PKCS#8: openssl pkey -in FILE -out FILE.pk8");
    }

    private static List<Block> blocks(byte[] data, String opensslCommand) {
        String text = new String(data, StandardCharsets.ISO_8859_1);
        List<Block> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            out.add(new Block(m.group(1), m.group(2)));
        }
        if (out.isEmpty() && data.length > 0 && (data[0] & 0xff) == 0x30) {
            throw new IllegalArgumentException("is DER (binary), not PEM; convert it: openssl " + opensslCommand
                    + " -inform DER -in FILE -out FILE.pem");
        }
        return out;
    }

    private static byte[] decode(Block b) {
        if (b.body().contains("Proc-Type:") && b.body().contains("ENCRYPTED")) {
            throw encrypted();
        }
        try {
            return Base64.getMimeDecoder().decode(b.body());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the " + b.type() + " block is not valid base64 (truncated?)");
        }
    }

    private static IllegalArgumentException encrypted() {
        return new IllegalArgumentException("the private key is encrypted; the service cannot ask for a passphrase,"
                + " write it unencrypted: openssl pkey -in FILE -out FILE.plain");
    }

    // ---- The little DER it takes to wrap a traditional key into PKCS#8 ----

    /** PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier, OCTET STRING key }. */
    private static byte[] pkcs8(byte[] algorithm, byte[] key) {
        return sequence(new byte[] {0x02, 0x01, 0x00}, algorithm, tlv(0x04, key));
    }

    /** The namedCurve OID in ECPrivateKey ::= SEQUENCE { 1, OCTET STRING, [0] parameters OPTIONAL, ... }. */
    private static byte[] sec1Curve(byte[] sec1) {
        try {
            Der seq = new Der(sec1);
            Der body = new Der(seq.content(0x30));
            body.skip(0x02);
            body.skip(0x04);
            while (body.hasMore()) {
                if (body.peekTag() == 0xa0) {
                    byte[] params = body.content(0xa0);
                    if ((params[0] & 0xff) == 0x06) {
                        return params;
                    }
                    break;
                }
                body.skipAny();
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("the EC PRIVATE KEY block does not parse (truncated or corrupt?)");
        }
        throw new IllegalArgumentException("the EC PRIVATE KEY does not name its curve; write it as PKCS#8:"
                + " openssl pkey -in FILE -out FILE.pk8");
    }

    static byte[] sequence(byte[]... parts) {
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            content.writeBytes(p);
        }
        return tlv(0x30, content.toByteArray());
    }

    static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(n >>> (8 * i));
            }
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    /** Reads definite-length DER TLVs one after the other. */
    static final class Der {
        private final byte[] data;
        private int pos;

        Der(byte[] data) {
            this.data = data;
        }

        boolean hasMore() {
            return pos < data.length;
        }

        int peekTag() {
            return data[pos] & 0xff;
        }

        byte[] content(int tag) {
            if (peekTag() != tag) {
                throw new IllegalArgumentException("unexpected tag");
            }
            return next();
        }

        void skip(int tag) {
            content(tag);
        }

        void skipAny() {
            next();
        }

        private byte[] next() {
            pos++;
            int len = data[pos++] & 0xff;
            if (len >= 0x80) {
                int bytes = len & 0x7f;
                if (bytes == 0 || bytes > 4) {
                    throw new IllegalArgumentException("unsupported length");
                }
                len = 0;
                for (int i = 0; i < bytes; i++) {
                    len = (len << 8) | (data[pos++] & 0xff);
                }
            }
            if (len < 0 || pos + len > data.length) {
                throw new IllegalArgumentException("truncated");
            }
            byte[] out = new byte[len];
            System.arraycopy(data, pos, out, 0, len);
            pos += len;
            return out;
        }
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s+", " ").trim();
    }
}
