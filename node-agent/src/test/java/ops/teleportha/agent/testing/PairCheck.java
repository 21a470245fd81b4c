package ops.teleportha.agent.testing;

import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import ops.teleportha.agent.tls.PemCodec;

/** Whether a PEM certificate and a PEM key belong together, checked by signing with one and verifying with the other. */
public final class PairCheck {
    private PairCheck() {}

    public static boolean matches(byte[] certPem, byte[] keyPem) throws Exception {
        X509Certificate leaf = PemCodec.certificates(certPem, "cert").get(0);
        PrivateKey key = PemCodec.privateKey(keyPem, "key");
        String alg = key.getAlgorithm().equals("EC")
                ? "SHA256withECDSA"
                : key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "Ed25519";
        Signature s = Signature.getInstance(alg);
        s.initSign(key);
        s.update(new byte[] {1, 2, 3});
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(alg);
        v.initVerify(leaf.getPublicKey());
        v.update(new byte[] {1, 2, 3});
        return v.verify(sig);
    }
}
