package ops.teleportha.config;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Map;

/**
 * Duration strings in the grammar of Go's {@code time.ParseDuration}, which Teleport's own config and its
 * operators use: an optional sign, then one or more decimal numbers with an optional fraction, each with
 * a unit ({@code ns}, {@code us}/{@code µs}, {@code ms}, {@code s}, {@code m}, {@code h}): {@code 500ms},
 * {@code 1.5s}, {@code 1h30m}, {@code 168h}; {@code 0} alone needs no unit. Range rules ({@code > 0})
 * belong to the config key, not to the grammar.
 */
public final class GoDuration {
    private static final Map<String, Long> UNIT_NANOS = Map.of(
            "ns", 1L,
            "us", 1_000L,
            "\u00b5s", 1_000L, // micro sign, as Go accepts
            "\u03bcs", 1_000L, // Greek small letter mu, as Go accepts
            "ms", 1_000_000L,
            "s", 1_000_000_000L,
            "m", 60_000_000_000L,
            "h", 3_600_000_000_000L);
    private static final String UNITS =
            "use a number with a unit (ns, us, ms, s, m, h), for example 500ms, 30s, 5m or 168h";
    /** Go's Duration is an int64 of nanoseconds. */
    private static final BigInteger MAX_NANOS = BigInteger.valueOf(Long.MAX_VALUE);

    private GoDuration() {}

    /** @throws IllegalArgumentException with a message fit to follow the key path */
    public static Duration parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("must be a duration; " + UNITS);
        }
        String s = text.trim();
        int pos = 0;
        boolean negative = false;
        if (s.charAt(0) == '-' || s.charAt(0) == '+') {
            negative = s.charAt(0) == '-';
            pos = 1;
        }
        if (s.substring(pos).equals("0")) {
            return Duration.ZERO;
        }
        if (pos == s.length()) {
            throw invalid(s, null);
        }
        BigDecimal nanos = BigDecimal.ZERO;
        while (pos < s.length()) {
            int start = pos;
            while (pos < s.length()
                    && (Character.isDigit(s.charAt(pos)) && s.charAt(pos) < 128 || s.charAt(pos) == '.')) {
                pos++;
            }
            String number = s.substring(start, pos);
            if (number.isEmpty() || number.equals(".") || number.indexOf('.') != number.lastIndexOf('.')) {
                throw invalid(s, null);
            }
            int unitStart = pos;
            while (pos < s.length() && !(Character.isDigit(s.charAt(pos)) || s.charAt(pos) == '.')) {
                pos++;
            }
            String unit = s.substring(unitStart, pos);
            if (unit.isEmpty()) {
                throw invalid(s, "missing unit");
            }
            Long unitNanos = UNIT_NANOS.get(unit);
            if (unitNanos == null) {
                throw invalid(s, "unknown unit '" + unit + "'");
            }
            String digits = number.startsWith(".") ? "0" + number : number.endsWith(".") ? number + "0" : number;
            nanos = nanos.add(new BigDecimal(digits).multiply(BigDecimal.valueOf(unitNanos)));
        }
        // Like Go, a fraction of a nanosecond is dropped.
        BigInteger whole = nanos.setScale(0, RoundingMode.DOWN).toBigIntegerExact();
        if (whole.compareTo(MAX_NANOS) > 0) {
            throw new IllegalArgumentException("'" + s + "' is out of range; the longest duration is about 2562047h");
        }
        return Duration.ofNanos(negative ? -whole.longValue() : whole.longValue());
    }

    private static IllegalArgumentException invalid(String text, String why) {
        return new IllegalArgumentException(
                "'" + text + "' is not a duration" + (why == null ? "" : " (" + why + ")") + "; " + UNITS);
    }

    /** For messages: {@code 30s}, {@code 168h}, {@code 1h30m}, {@code 1.5s}, {@code 250ms}; parses back to the same value. */
    public static String format(Duration d) {
        if (d.isZero()) {
            return "0s";
        }
        if (d.isNegative()) {
            return "-" + format(d.negated());
        }
        if (d.compareTo(Duration.ofSeconds(1)) < 0) {
            long n = d.toNanos();
            if (n % 1_000_000 == 0 || n >= 1_000_000) {
                return decimal(n, 1_000_000) + "ms";
            }
            return n % 1_000 == 0 || n >= 1_000 ? decimal(n, 1_000) + "us" : n + "ns";
        }
        StringBuilder b = new StringBuilder();
        long hours = d.toHours();
        if (hours > 0) {
            b.append(hours).append('h');
        }
        if (d.toMinutesPart() > 0) {
            b.append(d.toMinutesPart()).append('m');
        }
        long secondNanos = d.toSecondsPart() * 1_000_000_000L + d.toNanosPart();
        if (secondNanos > 0) {
            b.append(decimal(secondNanos, 1_000_000_000)).append('s');
        }
        return b.toString();
    }

    private static String decimal(long value, long unit) {
        return BigDecimal.valueOf(value)
                .divide(BigDecimal.valueOf(unit))
                .stripTrailingZeros()
                .toPlainString();
    }
}
