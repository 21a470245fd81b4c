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
import java.security.interfaces.RSAPublicKey;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import ops.teleportha.config.GoDuration;

/**
 * Decides whether a candidate pair may be installed. The rotator and {@code node-agent validate} both run it.
 * Checks run from the cheapest and most specific to the broadest, so the first problem reported is the one
 * a person has to fix first; {@link #check} goes on past it to list every problem it can still see.
 */
public final class PairValidator {
    /** How messages name the inputs: the rotator's config keys, or the command line's flags. */
    public record Terms(String cert, String key, String minValidity, String requiredNames, String trustBundle) {
        public static final Terms CONFIG =
                new Terms("tls.crt", "tls.key", "tls.min_validity", "tls.required_names", "tls.trust_bundle");
    }

    /**
     * What {@link #check} found.
     *
     * @param chain the parsed certificates, leaf first; {@code null} when tls.crt does not parse
     * @param key the parsed key; {@code null} when tls.key does not parse
     */
    public record Report(List<RejectedCandidate> problems, List<X509Certificate> chain, PrivateKey key) {
        public Report {
            problems = List.copyOf(problems);
        }

        public boolean valid() {
            return problems.isEmpty();
        }

        public X509Certificate leaf() {
            return chain == null ? null : chain.get(0);
        }
    }

    private final List<String> requiredNames;
    private final Duration minValidity;
    private final Path trustBundle;
    private final Clock clock;
    private final Terms terms;

    public PairValidator(List<String> requiredNames, Duration minValidity, Path trustBundle, Clock clock) {
        this(requiredNames, minValidity, trustBundle, clock, Terms.CONFIG);
    }

    public PairValidator(List<String> requiredNames, Duration minValidity, Path trustBundle, Clock clock, Terms terms) {
        this.requiredNames = List.copyOf(requiredNames);
        this.minValidity = minValidity;
        this.trustBundle = trustBundle;
        this.clock = clock;
        this.terms = terms;
    }

    /**
     * @param installedLeaf the leaf Teleport uses now, or {@code null} when nothing is installed
     * @throws RejectedCandidate the first problem {@link #check} finds
     */
    public PemPair validate(CandidateReader.RawPair raw, X509Certificate installedLeaf) throws RejectedCandidate {
        Report report = check(raw, installedLeaf);
        if (!report.valid()) {
            throw report.problems().get(0);
        }
        return new PemPair(report.chain(), report.key());
    }

    /** Every problem with the pair, first-to-fix first; checks that need an unparsable part are skipped. */
    public Report check(CandidateReader.RawPair raw, X509Certificate installedLeaf) {
        List<RejectedCandidate> problems = new ArrayList<>();
        List<X509Certificate> chain = null;
        PrivateKey key = null;
        try {
            chain = PemCodec.certificates(raw.cert(), terms.cert());
        } catch (RejectedCandidate r) {
            problems.add(r);
        }
        try {
            key = PemCodec.privateKey(raw.key(), terms.key());
        } catch (RejectedCandidate r) {
            problems.add(r);
        }
        if (chain == null) {
            return new Report(problems, null, key);
        }
        try {
            checkOrder(chain);
        } catch (RejectedCandidate r) {
            // Without a leaf in front, the remaining checks would judge the wrong certificate.
            problems.add(r);
            return new Report(problems, chain, key);
        }
        X509Certificate leaf = chain.get(0);
        boolean validNow = true;
        // A key the JDK cannot sign with (a curve it does not implement) would otherwise read as a mismatch.
        boolean keyUsable = collect(problems, () -> checkLeafKey(leaf));
        if (key != null && keyUsable) {
            PrivateKey parsedKey = key;
            collect(problems, () -> checkKeyMatches(parsedKey, leaf));
        }
        try {
            checkValidity(leaf);
        } catch (RejectedCandidate r) {
            problems.add(r);
            validNow = r.reason() == RejectReason.EXPIRES_TOO_SOON;
        }
        collect(problems, () -> checkNames(leaf));
        collect(problems, () -> checkKeyUsage(leaf));
        collect(problems, () -> checkExtendedKeyUsage(leaf));
        // An expired or not-yet-valid leaf is reported above; judge its chain at a time the leaf was valid,
        // so that the trust problem, if any, is about trust.
        Instant trustAt = validNow ? clock.instant() : leaf.getNotBefore().toInstant();
        List<X509Certificate> parsed = chain;
        collect(problems, () -> checkTrust(parsed, trustAt));
        if (installedLeaf != null && leaf.getNotBefore().before(installedLeaf.getNotBefore())) {
            problems.add(new RejectedCandidate(
                    RejectReason.OLDER_THAN_INSTALLED,
                    terms.cert() + ": issued " + leaf.getNotBefore().toInstant()
                            + ", before the installed certificate (issued "
                            + installedLeaf.getNotBefore().toInstant() + ")"));
        }
        return new Report(problems, chain, key);
    }

    private interface Check {
        void run() throws RejectedCandidate;
    }

    /** @return whether the check passed */
    private static boolean collect(List<RejectedCandidate> problems, Check check) {
        try {
            check.run();
            return true;
        } catch (RejectedCandidate r) {
            problems.add(r);
            return false;
        }
    }

    private void checkOrder(List<X509Certificate> chain) throws RejectedCandidate {
        for (int i = 0; i + 1 < chain.size(); i++) {
            if (!issuedBy(chain.get(i), chain.get(i + 1))) {
                boolean issuerElsewhere = false;
                for (X509Certificate other : chain) {
                    if (other != chain.get(i) && issuedBy(chain.get(i), other)) {
                        issuerElsewhere = true;
                    }
                }
                if (issuerElsewhere || chain.get(0).getBasicConstraints() >= 0) {
                    throw new RejectedCandidate(
                            RejectReason.CHAIN_WRONG_ORDER,
                            terms.cert() + ": certificates are out of order at position " + (i + 1) + " ("
                                    + chain.get(i).getSubjectX500Principal()
                                    + "); put the leaf first, then each issuer in turn");
                }
                throw new RejectedCandidate(
                        RejectReason.CHAIN_UNTRUSTED,
                        terms.cert() + ": certificate " + (i + 2) + " ("
                                + chain.get(i + 1).getSubjectX500Principal() + ") did not issue certificate " + (i + 1)
                                + " ("
                                + chain.get(i).getSubjectX500Principal() + "); the chain is not a chain");
            }
        }
        if (chain.get(0).getBasicConstraints() >= 0) {
            throw new RejectedCandidate(
                    RejectReason.CHAIN_WRONG_ORDER,
                    terms.cert() + ": the first certificate (" + chain.get(0).getSubjectX500Principal()
                            + ") is a CA; put the leaf first");
        }
    }

    private static boolean issuedBy(X509Certificate cert, X509Certificate issuer) {
        if (!cert.getIssuerX500Principal().equals(issuer.getSubjectX500Principal())) {
            return false;
        }
        try {
            cert.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /**
     * The leaf's public key as TLS clients judge it: RSA of at least 2048 bits (the CA/Browser Forum minimum;
     * browsers refuse less), ECDSA on P-256, P-384 or P-521 only (the curves Go's crypto/x509, and so Teleport and
     * tsh, parse, and the ones browsers offer).
     */
    private void checkLeafKey(X509Certificate leaf) throws RejectedCandidate {
        PublicKey pub = leaf.getPublicKey();
        if (pub instanceof RSAPublicKey rsa && rsa.getModulus().bitLength() < MIN_RSA_BITS) {
            throw new RejectedCandidate(
                    RejectReason.WEAK_KEY,
                    terms.cert() + ": the leaf's RSA key has "
                            + rsa.getModulus().bitLength() + " bits; TLS clients"
                            + " refuse RSA keys under " + MIN_RSA_BITS + " bits; issue a new key of at least "
                            + MIN_RSA_BITS + " bits (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)"
                            + " or an ECDSA P-256 key");
        }
        if (pub.getAlgorithm().equals("EC")) {
            String curve = Curves.of(pub);
            if (!Curves.supported(curve)) {
                throw new RejectedCandidate(
                        RejectReason.UNSUPPORTED_CURVE,
                        terms.cert() + ": the leaf's EC key is on " + Curves.describe(curve)
                                + "; Teleport (Go's crypto/tls) and browsers only use " + Curves.SUPPORTED_NAMES
                                + "; issue a new key on P-256 (openssl genpkey -algorithm EC -pkeyopt"
                                + " ec_paramgen_curve:P-256)");
            }
        }
    }

    /**
     * A key usage extension, when present, must allow digitalSignature: with TLS 1.3 and every ECDHE suite (the
     * only key exchanges Teleport offers) the server signs the handshake with this key, and browsers check the
     * bit (Go's crypto/x509 does not look at key usage at all). keyEncipherment, which only RSA key exchange
     * uses, is not required.
     */
    private void checkKeyUsage(X509Certificate leaf) throws RejectedCandidate {
        boolean[] usage = leaf.getKeyUsage();
        if (usage != null && !usage[0]) {
            throw new RejectedCandidate(
                    RejectReason.MISSING_DIGITAL_SIGNATURE,
                    terms.cert() + ": the leaf's key usage " + keyUsageNames(usage) + " lacks digitalSignature,"
                            + " which a TLS 1.3 or ECDHE server signs its handshake with (browsers refuse the"
                            + " certificate); reissue it with keyUsage digitalSignature (for RSA, keyEncipherment"
                            + " may stay beside it)");
        }
    }

    /**
     * An extended key usage extension, when present, must list serverAuth (RFC 5280 §4.2.1.12: the certificate
     * may then only be used for the purposes listed). anyExtendedKeyUsage alone is refused: Go's crypto/x509
     * (tsh) accepts it, but Firefox (mozilla::pkix CheckExtendedKeyUsage) does not, and the CA/Browser Forum
     * baseline requirements forbid it in server certificates; the proxy serves browsers.
     */
    private void checkExtendedKeyUsage(X509Certificate leaf) throws RejectedCandidate {
        List<String> usages;
        try {
            usages = leaf.getExtendedKeyUsage();
        } catch (CertificateParsingException e) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM,
                    terms.cert() + ": the extended key usage extension does not parse: " + PemCodec.oneLine(e));
        }
        if (usages == null || usages.contains(SERVER_AUTH)) {
            return;
        }
        List<String> names = usages.stream().map(PairValidator::ekuName).toList();
        throw new RejectedCandidate(
                RejectReason.MISSING_SERVER_AUTH,
                terms.cert() + ": the leaf's extended key usage " + names + " does not include serverAuth ("
                        + SERVER_AUTH + ")"
                        + (usages.contains(ANY_EXTENDED_KEY_USAGE)
                                ? "; anyExtendedKeyUsage is not enough: browsers refuse it for a server"
                                : "")
                        + "; reissue it with extendedKeyUsage serverAuth (beside clientAuth if it also needs that)");
    }

    private static final int MIN_RSA_BITS = 2048;
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
    private static final String[] KEY_USAGE_BITS = {
        "digitalSignature",
        "nonRepudiation",
        "keyEncipherment",
        "dataEncipherment",
        "keyAgreement",
        "keyCertSign",
        "cRLSign",
        "encipherOnly",
        "decipherOnly"
    };

    private static List<String> keyUsageNames(boolean[] usage) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < usage.length && i < KEY_USAGE_BITS.length; i++) {
            if (usage[i]) {
                names.add(KEY_USAGE_BITS[i]);
            }
        }
        return names;
    }

    private static String ekuName(String oid) {
        return switch (oid) {
            case SERVER_AUTH -> "serverAuth";
            case "1.3.6.1.5.5.7.3.2" -> "clientAuth";
            case "1.3.6.1.5.5.7.3.3" -> "codeSigning";
            case "1.3.6.1.5.5.7.3.4" -> "emailProtection";
            case "1.3.6.1.5.5.7.3.8" -> "timeStamping";
            case "1.3.6.1.5.5.7.3.9" -> "OCSPSigning";
            case ANY_EXTENDED_KEY_USAGE -> "anyExtendedKeyUsage";
            default -> oid;
        };
    }

    private void checkKeyMatches(PrivateKey key, X509Certificate leaf) throws RejectedCandidate {
        PublicKey pub = leaf.getPublicKey();
        String alg = switch (key.getAlgorithm().toUpperCase()) {
            case "RSA" -> "SHA256withRSA";
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "ED25519", "EDDSA" -> "Ed25519";
            default -> null;
        };
        if (alg == null) {
            throw new RejectedCandidate(
                    RejectReason.UNSUPPORTED_KEY,
                    terms.key() + ": " + key.getAlgorithm() + " keys are not supported; use RSA, ECDSA or Ed25519");
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
            throw new RejectedCandidate(
                    RejectReason.KEY_MISMATCH,
                    terms.key() + ": does not belong to the leaf certificate (" + leaf.getSubjectX500Principal() + ", "
                            + pub.getAlgorithm() + " key); drop the matching pair");
        }
    }

    private void checkValidity(X509Certificate leaf) throws RejectedCandidate {
        Instant now = clock.instant();
        Instant notBefore = leaf.getNotBefore().toInstant();
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (now.isBefore(notBefore)) {
            throw new RejectedCandidate(
                    RejectReason.NOT_YET_VALID,
                    terms.cert() + ": not valid before " + notBefore + " (now " + now + ")");
        }
        if (now.isAfter(notAfter)) {
            throw new RejectedCandidate(RejectReason.EXPIRED, terms.cert() + ": expired at " + notAfter);
        }
        if (Duration.between(now, notAfter).compareTo(minValidity) < 0) {
            throw new RejectedCandidate(
                    RejectReason.EXPIRES_TOO_SOON,
                    terms.cert() + ": expires at " + notAfter + ", within " + terms.minValidity() + " ("
                            + GoDuration.format(minValidity) + ")");
        }
    }

    private void checkNames(X509Certificate leaf) throws RejectedCandidate {
        SubjectNames names;
        try {
            names = SubjectNames.of(leaf);
        } catch (CertificateParsingException e) {
            throw new RejectedCandidate(
                    RejectReason.MALFORMED_PEM,
                    terms.cert() + ": subject alternative names do not parse: " + e.getMessage());
        }
        List<String> missing = requiredNames.stream()
                .filter(n -> !NameMatcher.covers(names.dns(), names.ips(), n))
                .toList();
        if (!missing.isEmpty()) {
            throw new RejectedCandidate(
                    RejectReason.MISSING_SAN,
                    terms.cert() + ": does not cover " + missing + " from " + terms.requiredNames()
                            + "; its DNS names are " + names.dns()
                            + (names.ips().isEmpty() ? "" : " and IPs " + names.ips()));
        }
    }

    private void checkTrust(List<X509Certificate> chain, Instant at) throws RejectedCandidate {
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
            params.setDate(Date.from(at));
            CertPathValidator.getInstance("PKIX")
                    .validate(CertificateFactory.getInstance("X.509").generateCertPath(path), params);
        } catch (GeneralSecurityException e) {
            throw new RejectedCandidate(
                    RejectReason.CHAIN_UNTRUSTED,
                    terms.cert() + ": chain does not verify against " + terms.trustBundle() + " (" + trustBundle + "): "
                            + PemCodec.oneLine(e) + "; include the intermediates after the leaf");
        }
    }

    private Set<TrustAnchor> loadAnchors() throws RejectedCandidate {
        Set<TrustAnchor> anchors = new HashSet<>();
        try (InputStream in = Files.newInputStream(trustBundle)) {
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                anchors.add(new TrustAnchor((X509Certificate) c, null));
            }
        } catch (IOException | GeneralSecurityException e) {
            throw new RejectedCandidate(
                    RejectReason.CHAIN_UNTRUSTED,
                    terms.trustBundle() + " " + trustBundle + ": cannot load: " + PemCodec.oneLine(e));
        }
        if (anchors.isEmpty()) {
            throw new RejectedCandidate(
                    RejectReason.CHAIN_UNTRUSTED, terms.trustBundle() + " " + trustBundle + ": holds no certificates");
        }
        return anchors;
    }
}
