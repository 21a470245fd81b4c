package ops.teleportha.agent.tls;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Collection;
import java.util.Locale;

/**
 * Whether a certificate's subject alternative names cover a required name, with the wildcard rules
 * TLS clients apply (RFC 6125 §6.4.3, as Go's crypto/x509 does): a wildcard is only the whole leftmost
 * label, matches exactly one label, and never covers the bare parent domain. A required wildcard name is
 * covered only by the same wildcard. The subject CN is ignored, as Go has ignored it since 1.15.
 */
public final class NameMatcher {
    private NameMatcher() {}

    public static boolean covers(Collection<String> dnsSans, Collection<String> ipSans, String required) {
        String want = normalise(required);
        if (looksLikeIp(want)) {
            byte[] wantBytes = ipBytes(want);
            return wantBytes != null
                    && ipSans.stream()
                            .map(NameMatcher::ipBytes)
                            .anyMatch(b -> b != null && java.util.Arrays.equals(b, wantBytes));
        }
        for (String san : dnsSans) {
            if (sanCovers(normalise(san), want)) {
                return true;
            }
        }
        return false;
    }

    static boolean sanCovers(String san, String want) {
        if (san.equals(want)) {
            return true;
        }
        if (want.startsWith("*.")) {
            return false; // only the identical wildcard covers a wildcard
        }
        if (!san.startsWith("*.")) {
            return false;
        }
        String sanParent = san.substring(2);
        if (sanParent.contains("*") || !sanParent.contains(".")) {
            return false; // "f*.x", "*.*.x", "*.com"
        }
        int dot = want.indexOf('.');
        if (dot <= 0) {
            return false;
        }
        return want.substring(dot + 1).equals(sanParent);
    }

    private static String normalise(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
    }

    private static boolean looksLikeIp(String s) {
        return s.contains(":") || s.matches("\\d{1,3}(\\.\\d{1,3}){3}");
    }

    private static byte[] ipBytes(String s) {
        if (!looksLikeIp(s)) {
            return null;
        }
        try {
            return InetAddress.getByName(s).getAddress(); // literal only: no DNS lookup for IP syntax
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
