package ops.teleportha.config;

import java.util.Locale;

/** A {@code host:port} pair; IPv6 hosts are written in brackets ({@code [::1]:3021}). Hosts are lower-cased. */
public record HostPort(String host, int port) {

    /** An address to connect to: the port is 1 to 65535. */
    public static HostPort parse(String text) {
        return parse(text, 1);
    }

    /** An address to listen on: port 0 asks the kernel for a free port. */
    public static HostPort parseListen(String text) {
        return parse(text, 0);
    }

    private static HostPort parse(String text, int minPort) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("must be host:port, such as 127.0.0.1:8080 or [::1]:8080");
        }
        String s = text.trim();
        int colon = s.lastIndexOf(':');
        if (colon < 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException(
                    "'" + text + "' must be host:port, such as 127.0.0.1:8080 or [::1]:8080");
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new IllegalArgumentException("'" + text + "': write an IPv6 host in brackets, such as [::1]:3021");
        }
        if (host.isEmpty()
                || host.chars().anyMatch(c -> Character.isWhitespace(c) || c == '[' || c == ']' || c == '/')) {
            throw new IllegalArgumentException("'" + text + "' has an empty or malformed host");
        }
        String portText = s.substring(colon + 1);
        int port;
        try {
            port = Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < minPort || port > 65535 || !portText.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException(
                    "port '" + portText + "' must be a number from " + minPort + " to 65535");
        }
        return new HostPort(host.toLowerCase(Locale.ROOT), port);
    }

    @Override
    public String toString() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
