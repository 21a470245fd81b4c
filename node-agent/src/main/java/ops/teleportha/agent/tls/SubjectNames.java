package ops.teleportha.agent.tls;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** The DNS and IP subject alternative names of a certificate: what TLS clients match (the CN is not). */
public record SubjectNames(List<String> dns, List<String> ips) {
    private static final int DNS_NAME = 2;
    private static final int IP_ADDRESS = 7;

    public SubjectNames {
        dns = List.copyOf(dns);
        ips = List.copyOf(ips);
    }

    public static SubjectNames of(X509Certificate cert) throws CertificateParsingException {
        List<String> dns = new ArrayList<>();
        List<String> ips = new ArrayList<>();
        Collection<List<?>> sans = cert.getSubjectAlternativeNames();
        if (sans != null) {
            for (List<?> san : sans) {
                int type = (Integer) san.get(0);
                if (type == DNS_NAME) {
                    dns.add((String) san.get(1));
                }
                if (type == IP_ADDRESS) {
                    ips.add((String) san.get(1));
                }
            }
        }
        return new SubjectNames(dns, ips);
    }

    /** DNS names, then IP addresses. */
    public List<String> all() {
        List<String> all = new ArrayList<>(dns);
        all.addAll(ips);
        return all;
    }
}
