package ops.teleportha.inventory.config;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses Go-style duration strings ("500ms", "30s", "5m", "1h30m"), as used across this project. */
public final class Duration2 {
    private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h)");

    private Duration2() {}

    /** @throws IllegalArgumentException saying what is wrong, without naming the key */
    public static Duration parse(String raw) {
        String text = raw.trim();
        Matcher m = PART.matcher(text);
        Duration total = Duration.ZERO;
        int pos = 0;
        while (pos < text.length() && m.find(pos) && m.start() == pos) {
            long n = Long.parseLong(m.group(1));
            total = total.plus(switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            });
            pos = m.end();
        }
        if (text.isEmpty() || pos != text.length()) {
            throw new IllegalArgumentException("'" + text
                    + "' is not a duration; use a number with a unit (ms, s, m, h), for example 30s or 1h30m");
        }
        return total;
    }

    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms % 3_600_000 == 0) return (ms / 3_600_000) + "h";
        if (ms % 60_000 == 0) return (ms / 60_000) + "m";
        if (ms % 1000 == 0) return (ms / 1000) + "s";
        return ms + "ms";
    }
}
