package ops.teleportha.agent.tls;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import ops.teleportha.config.GoDuration;

/**
 * Decides whether a candidate pair may be installed. Checks run from the cheapest and most specific
 * to the broadest, so the reason reported is the one a person has to fix first.
 */
public final class PairValidator {
    private final List<String> requiredNames;
    private final Duration minValidity;
    private final Path trustBundle;
    private final Clock clock;

    public PairValidator(List<String> requiredNames, Duration minValidity, Path trustBundle, Clock clock) {
        this.requiredNames = List.copyOf(requiredNames);
        this.minValidity = minValidity;
        this.trustBundle = trustBundle;
        this.clock = clock;
    }

    /**
     * @param installedLeaf the leaf Teleport uses now, or {@code null} when nothing is installed
     */
    public PemPair validate(CandidateReader.RawPair raw, X509Certificate installedLeaf) throws RejectedCandidate {
        List<X509Certificate> chain = PemCodec.certificates(raw.cert(), "tls.crt");
        PrivateKey key = PemCodec.privateKey(raw.key(), "tls.key");
        checkOrder(chain);
        X509Certificate leaf = chain.get(0);
        checkKeyMatches(key, leaf);
        checkValidity(leaf);
        checkNames(leaf);
        checkTrust(chain);
        if (installedLeaf != null && leaf.getNotBefore().before(installedLeaf.getNotBefore())) {
            throw new RejectedCandidate(RejectReason.OLDER_THAN_INSTALLED, "tls.crt: issued " + leaf.getNotBefore().toInstant()
                    + ", before the installed certificate (issued " + installedLeaf.getNotBefore().toInstant() + ")");
        }
        return new PemPair(chain, key);
    }

    private static void checkOrder(List<X509Certificate> chain) throws RejectedCandidate {
        for (int i = 0; i + 1 < chain.size(); i++) {
            if (!issuedBy(chain.get(i), chain.get(i + 1))) {
                boolean issuerElsewhere = false;
                for (X509Certificate other : chain) {
                    if (other != chain.get(i) && issuedBy(chain.get(i), other)) issuerElsewhere = true;
                }
                if (issuerElsewhere || chain.get(0).getBasicConstraints() >= 0) {
                    throw new RejectedCandidate(RejectReason.CHAIN_WRONG_ORDER, "tls.crt: certificates are out of order at position "
                            + (i + 1) + " (" + chain.get(i).getSubjectX500Principal() + "); put the leaf first, then each issuer in turn");
                }
                throw new RejectedCandidate(RejectReason.CHAIN_UNTRUSTED, "tls.crt: certificate " + (i + 2) + " ("
                        + chain.get(i + 1).getSubjectX500Principal() + ") did not issue certificate " + (i + 1) + " ("
                        + chain.get(i).getSubjectX500Principal() + "); the chain is not a chain");
            }
        }
        if (chain.get(0).getBasicConstraints() >= 0) {
            throw new RejectedCandidate(RejectReason.CHAIN_WRONG_ORDER,
                    "tls.crt: the first certificate (" + chain.get(0).getSubjectX500Principal() + ") is a CA; put the leaf first");
        }
    }

    private static boolean issuedBy(X509Certificate cert, X509Certificate issuer) {
        if (!cert.getIssuerX500Principal().equals(issuer.getSubjectX500Principal())) return false;
        try {
            cert.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static void checkKeyMatches(PrivateKey key, X509Certificate leaf) throws RejectedCandidate {
        PublicKey pub = leaf.getPublicKey();
        String alg = switch (key.getAlgorithm().toUpperCase()) {
            case "RSA" -> "SHA256withRSA";
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "ED25519", "EDDSA" -> "Ed25519";
            default -> null;
        };
        if (alg == null) {
            throw new RejectedCandidate(RejectReason.UNSUPPORTED_KEY, "tls.key: " + key.getAlgorithm()
                    + " keys are not supported; use RSA, ECDSA or Ed25519");
        }
        boolean matches;
        try {
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            Signature signer = Signature.getInstance(alg);
            signer.initSign(key);
            signer.update(challenge);
            byte[] sig = signer.sign();
            Signature verifier = Signature.getInstance(alg);
            verifier.initVerify(pub);
            verifier.update(challenge);
            matches = verifier.verify(sig);
        } catch (GeneralSecurityException e) {
            matches = false; // e.g. an EC key against an RSA certificate
        }
        if (!matches) {
            throw new RejectedCandidate(RejectReason.KEY_MISMATCH, "tls.key: does not belong to the leaf certificate ("
                    + leaf.getSubjectX500Principal() + ", " + pub.getAlgorithm() + " key); drop the matching pair");
        }
    }

    private void checkValidity(X509Certificate leaf) throws RejectedCandidate {
        Instant now = clock.instant();
        Instant notBefore = leaf.getNotBefore().toInstant();
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (now.isBefore(notBefore)) {
            throw new RejectedCandidate(RejectReason.NOT_YET_VALID, "tls.crt: not valid before " + notBefore + " (now " + now + ")");
        }
        if (now.isAfter(notAfter)) {
            throw new RejectedCandidate(RejectReason.EXPIRED, "tls.crt: expired at " + notAfter);
        }
        if (Duration.between(now, notAfter).compareTo(minValidity) < 0) {
            throw new RejectedCandidate(RejectReason.EXPIRES_TOO_SOON, "tls.crt: expires at " + notAfter
                    + ", within tls.min_validity (" + GoDuration.format(minValidity) + ")");
        }
    }

    private void checkNames(X509Certificate leaf) throws RejectedCandidate {
        List<String> dns = new ArrayList<>();
        List<String> ips = new ArrayList<>();
        try {
            Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    int type = (Integer) san.get(0);
                    if (type == 2) dns.add((String) san.get(1));
                    if (type == 7) ips.add((String) san.get(1));
                }
            }
        } catch (CertificateParsingException e) {
            throw new RejectedCandidate(RejectReason.MALFORMED_PEM, "tls.crt: subject alternative names do not parse: " + e.getMessage());
        }
        List<String> missing = requiredNames.stream().filter(n -> !NameMatcher.covers(dns, ips, n)).toList();
        if (!missing.isEmpty()) {
            throw new RejectedCandidate(RejectReason.MISSING_SAN, "tls.crt: does not cover " + missing
                    + " from tls.required_names; its DNS names are " + dns + (ips.isEmpty() ? "" : " and IPs " + ips));
        }
    }

    private void checkTrust(List<X509Certificate> chain) throws RejectedCandidate {
        Set<TrustAnchor> anchors = loadAnchors();
        Set<String> anchorPrints = new HashSet<>();
        anchors.forEach(a -> anchorPrints.add(PemPair.fingerprint(a.getTrustedCert())));
        List<X509Certificate> path = new ArrayList<>(chain);
        // A bundled root that is itself a trust anchor is redundant, and PKIX wants paths without it.
        while (path.size() > 1 && anchorPrints.contains(PemPair.fingerprint(path.get(path.size() - 1)))) {
            path.remove(path.size() - 1);
        }
        try {
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            params.setDate(Date.from(clock.instant()));
            CertPathValidator.getInstance("PKIX").validate(CertificateFactory.getInstance("X.509").generateCertPath(path), params);
        } catch (GeneralSecurityException e) {
            throw new RejectedCandidate(RejectReason.CHAIN_UNTRUSTED, "tls.crt: chain does not verify against tls.trust_bundle ("
                    + trustBundle + "): " + PemCodec.oneLine(e) + "; include the intermediates after the leaf");
        }
    }

    private Set<TrustAnchor> loadAnchors() throws RejectedCandidate {
        Set<TrustAnchor> anchors = new HashSet<>();
        try (InputStream in = Files.newInputStream(trustBundle)) {
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                anchors.add(new TrustAnchor((X509Certificate) c, null));
            }
        } catch (IOException | GeneralSecurityException e) {
            throw new RejectedCandidate(RejectReason.CHAIN_UNTRUSTED, "tls.trust_bundle " + trustBundle + ": cannot load: " + PemCodec.oneLine(e));
        }
        if (anchors.isEmpty()) {
            throw new RejectedCandidate(RejectReason.CHAIN_UNTRUSTED, "tls.trust_bundle " + trustBundle + ": holds no certificates");
        }
        return anchors;
    }
}
