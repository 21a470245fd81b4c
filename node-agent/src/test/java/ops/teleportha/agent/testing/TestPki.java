package ops.teleportha.agent.testing;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaMiscPEMGenerator;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcePEMEncryptorBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** A throwaway CA (root + intermediate) made with BouncyCastle, issuing leaves for tests. */
public final class TestPki {
    public enum KeyType {
        RSA,
        EC,
        ED25519
    }

    /** Key encodings a provisioning step might drop. */
    public enum KeyFormat {
        PKCS1_OR_SEC1,
        PKCS8,
        ENCRYPTED
    }

    public record Issued(X509Certificate cert, KeyPair keys) {}

    /**
     * What a leaf may be used for.
     *
     * @param keyUsage BouncyCastle {@link KeyUsage} bits; {@code null} leaves the extension out
     * @param extendedKeyUsage {@code null} leaves the extension out
     */
    public record Usage(Integer keyUsage, List<KeyPurposeId> extendedKeyUsage) {
        /** What the test CA puts in every leaf unless told otherwise. */
        public static final Usage DEFAULT = new Usage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment, null);
    }

    private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

    public final Issued root;
    public final Issued intermediate;

    private TestPki(Issued root, Issued intermediate) {
        this.root = root;
        this.intermediate = intermediate;
    }

    public static TestPki create() {
        try {
            Instant now = Instant.now();
            KeyPair rootKeys = keys(KeyType.EC);
            X509Certificate root = sign(
                    new X500Name("CN=Test Root CA"),
                    rootKeys.getPublic(),
                    new X500Name("CN=Test Root CA"),
                    rootKeys.getPrivate(),
                    now.minus(Duration.ofDays(30)),
                    now.plus(Duration.ofDays(3650)),
                    true,
                    List.of(),
                    Usage.DEFAULT);
            KeyPair interKeys = keys(KeyType.EC);
            X509Certificate inter = sign(
                    new X500Name("CN=Test Intermediate CA"),
                    interKeys.getPublic(),
                    new X500Name("CN=Test Root CA"),
                    rootKeys.getPrivate(),
                    now.minus(Duration.ofDays(30)),
                    now.plus(Duration.ofDays(1825)),
                    true,
                    List.of(),
                    Usage.DEFAULT);
            return new TestPki(new Issued(root, rootKeys), new Issued(inter, interKeys));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A leaf issued by the intermediate. */
    public Issued leaf(KeyType type, List<String> names, Instant notBefore, Instant notAfter) {
        try {
            return leaf(keys(type), names, notBefore, notAfter, Usage.DEFAULT);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A leaf for the given keys with the given usages, valid from an hour ago for 90 days. */
    public Issued leaf(KeyPair keys, List<String> names, Usage usage) {
        Instant now = Instant.now();
        return leaf(keys, names, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(90)), usage);
    }

    private Issued leaf(KeyPair k, List<String> names, Instant notBefore, Instant notAfter, Usage usage) {
        try {
            X509Certificate c = sign(
                    new X500Name(
                            "CN=" + (names.isEmpty() ? "leaf" : names.get(0).replace("*", "wildcard"))),
                    k.getPublic(),
                    new X500Name("CN=Test Intermediate CA"),
                    intermediate.keys().getPrivate(),
                    notBefore,
                    notAfter,
                    false,
                    names,
                    usage);
            return new Issued(c, k);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A leaf valid from an hour ago for 90 days. */
    public Issued leaf(List<String> names) {
        Instant now = Instant.now();
        return leaf(KeyType.EC, names, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(90)));
    }

    /** A self-signed leaf that no CA vouches for. */
    public static Issued selfSigned(List<String> names) {
        try {
            Instant now = Instant.now();
            KeyPair k = keys(KeyType.EC);
            X509Certificate c = sign(
                    new X500Name("CN=self"),
                    k.getPublic(),
                    new X500Name("CN=self"),
                    k.getPrivate(),
                    now.minus(Duration.ofHours(1)),
                    now.plus(Duration.ofDays(90)),
                    false,
                    names,
                    Usage.DEFAULT);
            return new Issued(c, k);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static KeyPair keys(KeyType type) throws GeneralSecurityException {
        return switch (type) {
            case RSA -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
                g.initialize(2048);
                yield g.generateKeyPair();
            }
            case EC -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
                g.initialize(new ECGenParameterSpec("secp256r1"));
                yield g.generateKeyPair();
            }
            case ED25519 -> KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        };
    }

    /** EC keys on any named curve, also those the JDK does not generate (secp256k1, brainpool). */
    public static KeyPair ecKeys(String curve) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", new BouncyCastleProvider());
            g.initialize(new ECGenParameterSpec(curve));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static KeyPair rsaKeys(int bits) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(bits);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static X509Certificate sign(
            X500Name subject,
            java.security.PublicKey pub,
            X500Name issuer,
            PrivateKey issuerKey,
            Instant notBefore,
            Instant notAfter,
            boolean ca,
            List<String> names,
            Usage usage)
            throws GeneralSecurityException, IOException {
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                issuer,
                BigInteger.valueOf(SERIAL.incrementAndGet()),
                Date.from(notBefore),
                Date.from(notAfter),
                subject,
                pub);
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        if (ca) {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        } else {
            if (usage.keyUsage() != null) {
                b.addExtension(Extension.keyUsage, true, new KeyUsage(usage.keyUsage()));
            }
            if (usage.extendedKeyUsage() != null) {
                b.addExtension(
                        Extension.extendedKeyUsage,
                        false,
                        new ExtendedKeyUsage(usage.extendedKeyUsage().toArray(new KeyPurposeId[0])));
            }
        }
        if (!names.isEmpty()) {
            List<GeneralName> gn = new ArrayList<>();
            for (String n : names) {
                gn.add(
                        n.matches("[0-9.]+")
                                ? new GeneralName(GeneralName.iPAddress, n)
                                : new GeneralName(GeneralName.dNSName, n));
            }
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(gn.toArray(new GeneralName[0])));
        }
        String alg = switch (issuerKey.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> "Ed25519";
        };
        try {
            ContentSigner signer = new JcaContentSignerBuilder(alg).build(issuerKey);
            return new JcaX509CertificateConverter().getCertificate(b.build(signer));
        } catch (org.bouncycastle.operator.OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    public static String pem(X509Certificate... certs) {
        return pem((Object[]) certs);
    }

    public static String pem(Object... objects) {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
            for (Object o : objects) {
                pw.writeObject(o);
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return w.toString();
    }

    public static String keyPem(PrivateKey key, KeyFormat format) {
        try {
            return switch (format) {
                case PKCS1_OR_SEC1 -> key.getAlgorithm().equals("EC") ? sec1(key) : pem(key);
                case PKCS8 -> pem(new JcaPKCS8Generator(key, null));
                case ENCRYPTED ->
                    pem(new JcaMiscPEMGenerator(
                            key,
                            new JcePEMEncryptorBuilder("AES-256-CBC")
                                    .setProvider(new org.bouncycastle.jce.provider.BouncyCastleProvider())
                                    .build("secret".toCharArray())));
            };
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** SEC1 "EC PRIVATE KEY" with the curve named inside, as `openssl ecparam -genkey` writes it. */
    private static String sec1(PrivateKey key) throws IOException {
        org.bouncycastle.asn1.pkcs.PrivateKeyInfo info =
                org.bouncycastle.asn1.pkcs.PrivateKeyInfo.getInstance(key.getEncoded());
        org.bouncycastle.asn1.sec.ECPrivateKey inner =
                org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
        var withCurve = new org.bouncycastle.asn1.sec.ECPrivateKey(
                256, inner.getKey(), info.getPrivateKeyAlgorithm().getParameters());
        return pem(new org.bouncycastle.util.io.pem.PemObject("EC PRIVATE KEY", withCurve.getEncoded()));
    }

    /** Leaf then intermediate: what a provisioning step should drop as tls.crt. */
    public String chainPem(Issued leaf) {
        return pem(leaf.cert(), intermediate.cert());
    }

    public Path writeTrustBundle(Path file) throws IOException {
        Files.writeString(file, pem(root.cert()), StandardCharsets.US_ASCII);
        return file;
    }
}
