package ops.teleportha.agent;

import java.time.Instant;
import java.util.List;

/** Just enough JSON writing for the status endpoints and {@code validate --json}, so the agent needs no JSON library. */
public final class Json {
    private Json() {}

    public static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    public static String number(Double d) {
        return d == null || d.isNaN() || d.isInfinite() ? "null" : String.valueOf(d);
    }

    /** An instant as an RFC 3339 string, or {@code null}. */
    public static String time(Instant t) {
        return t == null ? "null" : quote(t.toString());
    }

    public static String strings(List<String> values) {
        StringBuilder b = new StringBuilder("[");
        for (String v : values) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append(quote(v));
        }
        return b.append(']').toString();
    }
}
