package ops.teleportha.inventory.tls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import ops.teleportha.config.ConfigException;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;

/**
 * A certificate chain and its private key, read from {@code serve.tls}'s files and checked: the key file follows
 * {@link SecretFile}'s rules, both parse, the key belongs to the first certificate, which is valid now. Every refusal is a {@link ConfigException} naming the key ({@code serve.tls.key_file: ...}).
 */
record ServedPair(List<X509Certificate> chain, PrivateKey key) {
    static final String CERT = "serve.tls.cert_file";
    static final String KEY = "serve.tls.key_file";

    ServedPair {
        chain = List.copyOf(chain);
    }

    X509Certificate leaf() {
        return chain.get(0);
    }

    static ServedPair read(InventoryConfig.Tls files, SecretFile rules, Instant now) {
        List<X509Certificate> chain;
        try {
            chain = Pem.certificates(bytes(CERT, files.certFile()));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(CERT + ": " + files.certFile() + " " + e.getMessage());
        }
        rules.check(KEY, files.keyFile());
        PrivateKey key;
        try {
            key = Pem.privateKey(bytes(KEY, files.keyFile()));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(KEY + ": " + files.keyFile() + " " + e.getMessage());
        }
        X509Certificate leaf = chain.get(0);
        if (!belongsTo(key, leaf)) {
            throw new ConfigException(KEY + ": " + files.keyFile() + " does not belong to the certificate in " + CERT
                    + " (" + files.certFile() + ", " + leaf.getSubjectX500Principal() + ", "
                    + leaf.getPublicKey().getAlgorithm()
                    + " key); install the key and the certificate issued for it, that certificate first in the file");
        }
        if (now.isAfter(leaf.getNotAfter().toInstant())) {
            throw new ConfigException(CERT + ": " + files.certFile() + " expired at "
                    + leaf.getNotAfter().toInstant() + "; install a renewed certificate");
        }
        if (now.isBefore(leaf.getNotBefore().toInstant())) {
            throw new ConfigException(CERT + ": " + files.certFile() + " is not valid before "
                    + leaf.getNotBefore().toInstant() + " (now " + now + "); check the clock or the certificate");
        }
        return new ServedPair(chain, key);
    }

    /** An in-memory store for Jetty; the password only guards memory this process owns. */
    KeyStore keyStore(char[] password) {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("serve", key, password, chain.toArray(new X509Certificate[0]));
            return ks;
        } catch (GeneralSecurityException | IOException e) {
            throw new ConfigException(KEY + ": the key cannot be used for TLS: " + Pem.oneLine(e));
        }
    }

    private static byte[] bytes(String configKey, Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(configKey + ": " + file + " does not exist");
        } catch (IOException e) {
            throw new ConfigException(configKey + ": cannot read " + file + ": " + Pem.oneLine(e));
        }
    }

    /** Signs a random challenge with the key and verifies it with the certificate's public key. */
    private static boolean belongsTo(PrivateKey key, X509Certificate leaf) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> key.getAlgorithm(); // Ed25519, EdDSA
        };
        try {
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(leaf.getPublicKey());
            verifier.update(challenge);
            return verifier.verify(signature);
        } catch (GeneralSecurityException | RuntimeException e) {
            return false; // e.g. an EC key against an RSA certificate
        }
    }
}
