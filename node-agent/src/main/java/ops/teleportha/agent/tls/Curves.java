package ops.teleportha.agent.tls;

import java.security.PublicKey;
import java.util.Map;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.ECNamedCurveTable;

/**
 * The elliptic curves an ECDSA server key may be on: P-256, P-384 and P-521, the only ones Go's crypto/x509 parses
 * (so the only ones Teleport can load and tsh can verify) and the ones browsers offer. Curves are named by OID.
 */
final class Curves {
    static final String SUPPORTED_NAMES = "P-256, P-384 and P-521";
    private static final Map<String, String> SUPPORTED = Map.of(
            "1.2.840.10045.3.1.7", "P-256",
            "1.3.132.0.34", "P-384",
            "1.3.132.0.35", "P-521");

    private Curves() {}

    /** The curve OID of an EC key's algorithm identifier; {@code null} when the curve is given by explicit parameters. */
    static String of(AlgorithmIdentifier algorithm) {
        return algorithm.getParameters() instanceof ASN1ObjectIdentifier oid ? oid.getId() : null;
    }

    static String of(PublicKey key) {
        return of(SubjectPublicKeyInfo.getInstance(key.getEncoded()).getAlgorithm());
    }

    static boolean supported(String oid) {
        return oid != null && SUPPORTED.containsKey(oid);
    }

    /** "secp256k1 (1.3.132.0.10)", for messages. */
    static String describe(String oid) {
        if (oid == null) {
            return "a curve given by explicit parameters rather than by name";
        }
        String name = SUPPORTED.get(oid);
        if (name == null) {
            name = ECNamedCurveTable.getName(new ASN1ObjectIdentifier(oid));
        }
        return (name == null ? "curve" : name) + " (" + oid + ")";
    }
}
