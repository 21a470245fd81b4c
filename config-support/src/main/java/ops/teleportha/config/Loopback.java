package ops.teleportha.config;

import java.util.regex.Pattern;

/**
 * Whether a host names this machine's loopback: 127.0.0.0/8, ::1 or localhost, judged as the inventory script
 * judges it (Python's {@code ipaddress.is_loopback}). Literal addresses only, so that no name is ever resolved to
 * decide, and any other name (127.example.com included) counts as off this machine. Both services refuse to send
 * or take a bearer token in clear beyond loopback, and must agree on what that is.
 */
public final class Loopback {
    private static final String OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
    private static final Pattern IPV4_LOOPBACK = Pattern.compile("127(\\." + OCTET + "){3}");
    /** ::1 in every spelling (0:0:0:0:0:0:0:1, 0::1, ...); an IPv4-mapped ::ffff:127.0.0.1 is not ::1. */
    private static final Pattern IPV6_LOOPBACK = Pattern.compile("(0{0,4}:){1,7}:?0{0,3}1", Pattern.CASE_INSENSITIVE);

    private Loopback() {}

    /** @param host a host as a URL or host:port carries it: bare or, for IPv6, in brackets */
    public static boolean is(String host) {
        if (host == null) {
            return false;
        }
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (IPV4_LOOPBACK.matcher(h).matches()) {
            return h == host; // an IPv4 address is never bracketed
        }
        return h.contains(":") && IPV6_LOOPBACK.matcher(h).matches() && expandsToOne(h);
    }

    /** The pattern admits shapes like 0:0::0:1; count the groups so that only ::1 passes. */
    private static boolean expandsToOne(String h) {
        String[] halves = h.split("::", -1);
        if (halves.length > 2) {
            return false;
        }
        int groups = 0;
        for (String half : halves) {
            if (!half.isEmpty()) {
                groups += half.split(":", -1).length;
            }
        }
        return halves.length == 2 ? groups <= 7 : groups == 8;
    }
}
