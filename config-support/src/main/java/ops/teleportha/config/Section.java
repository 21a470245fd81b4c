package ops.teleportha.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * One mapping of a parsed YAML document (plain {@link Map}s, {@link List}s and scalars, whatever library
 * parsed it), with its key path. Reading a key that is wrong records a problem naming the path and returns
 * {@code null} (or the default), so that a loader walks the whole file and reports every problem at once;
 * {@link #done()} reports the keys nobody read, so a typo never silently falls back to a default.
 */
public final class Section {
    /** What every section of one document shares. */
    private static final class Context {
        final List<String> problems = new ArrayList<>();
        final String docHint;
        final Map<String, String> origins;

        Context(String docHint, Map<String, String> origins) {
            this.docHint = docHint;
            this.origins = Map.copyOf(origins);
        }
    }

    private final Context context;
    private final String path;
    private final Map<String, Object> map;
    private final Set<String> used = new LinkedHashSet<>();

    private Section(Context context, String path, Map<String, Object> map) {
        this.context = context;
        this.path = path;
        this.map = map;
    }

    /**
     * @param tree the parsed document; {@code null} (an empty file) is an empty mapping
     * @param docHint where the keys are documented, for the unknown-key message (e.g. {@code docs/node-agent.md})
     * @param origins key paths whose value came from somewhere other than the file (an environment variable),
     *     mapped to that source; problems at or below such a path name it
     */
    public static Section root(Object tree, String docHint, Map<String, String> origins) {
        Context context = new Context(docHint, origins);
        if (tree != null && !(tree instanceof Map)) {
            context.problems.add("the top level must be a mapping of keys to values, not a " + kind(tree));
            return new Section(context, "", Map.of());
        }
        return new Section(context, "", asMap(context, "", tree));
    }

    private static Map<String, Object> asMap(Context context, String at, Object value) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (value instanceof Map<?, ?> m) {
            m.forEach((k, v) -> {
                if (k instanceof String ks) {
                    out.put(ks, v);
                } else {
                    context.problems.add(join(at, String.valueOf(k)) + ": keys must be strings");
                }
            });
        }
        return out;
    }

    /** Every problem recorded so far in the whole document. */
    public List<String> problems() {
        return List.copyOf(context.problems);
    }

    /** @throws ConfigException when any problem was recorded */
    public void throwIfProblems(String origin) {
        if (!context.problems.isEmpty()) {
            throw new ConfigException(origin, context.problems);
        }
    }

    public String path(String key) {
        return join(path, key);
    }

    private static String join(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** Records a problem at {@code key}, naming the environment variable when the value came from one. */
    public void problem(String key, String message) {
        problemAt(path(key), message);
    }

    private void problemAt(String p, String message) {
        String origin = context.origins.entrySet().stream()
                .filter(e -> p.equals(e.getKey()) || p.startsWith(e.getKey() + ".") || p.startsWith(e.getKey() + "["))
                .map(e -> " (set by environment variable " + e.getValue() + ")")
                .findFirst()
                .orElse("");
        context.problems.add(p + ": " + message + origin);
    }

    /** The keys present in this mapping, in file order. */
    public List<String> keys() {
        return List.copyOf(map.keySet());
    }

    private Object get(String key) {
        used.add(key);
        return map.get(key);
    }

    /** A nested mapping; absent is an empty one. */
    public Section section(String key) {
        Object v = get(key);
        if (v != null && !(v instanceof Map)) {
            problem(key, "must be a mapping of keys to values, not a " + kind(v));
            return new Section(context, path(key), Map.of());
        }
        return new Section(context, path(key), asMap(context, path(key), v));
    }

    /**
     * A scalar converted by {@code convert}, which throws {@link IllegalArgumentException} with a message
     * that follows the key path. The text is the value as written (not trimmed), or {@code dflt} when absent.
     *
     * @return the converted value, or {@code null} when absent without a default or when it is wrong
     */
    public <T> T value(String key, String dflt, Function<String, T> convert) {
        Object raw = get(key);
        if (raw instanceof Map || raw instanceof List) {
            problem(key, "must be a single value, not a " + kind(raw));
            return null;
        }
        String text = raw == null ? dflt : String.valueOf(raw);
        return text == null ? null : convert(key, text, convert);
    }

    /** Applies {@code convert} to {@code text}, recording its complaint at {@code key}. */
    public <T> T convert(String key, String text, Function<String, T> convert) {
        try {
            return convert.apply(text);
        } catch (IllegalArgumentException | ArithmeticException e) {
            problem(key, e.getMessage());
            return null;
        }
    }

    /** A string, trimmed; absent, null or empty is {@link Optional#empty()}. */
    public Optional<String> optionalString(String key) {
        Object v = get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (v instanceof Map || v instanceof List || v instanceof Boolean) {
            problem(key, "must be a string");
            return Optional.empty();
        }
        return Optional.of(String.valueOf(v).trim()).filter(s -> !s.isEmpty());
    }

    public String string(String key, String dflt) {
        return optionalString(key).orElse(dflt);
    }

    /** @return the string, or {@code null} after recording that it is required */
    public String requiredString(String key) {
        Object raw = map.get(key);
        Optional<String> v = optionalString(key);
        if (v.isEmpty() && (raw == null || raw instanceof String)) {
            problem(key, "is required");
        }
        return v.orElse(null);
    }

    /**
     * A list of non-empty strings, each trimmed.
     *
     * @param dflt used when the key is absent; {@code null} makes the key required
     */
    public List<String> stringList(String key, List<String> dflt) {
        Object raw = get(key);
        if (raw == null) {
            if (dflt == null) {
                problem(key, "is required");
            }
            return dflt == null ? List.of() : dflt;
        }
        if (!(raw instanceof List<?> list)) {
            problem(key, "must be a list, such as [a, b]");
            return dflt == null ? List.of() : dflt;
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            Object o = list.get(i);
            if (o == null
                    || o instanceof Map
                    || o instanceof List
                    || String.valueOf(o).isBlank()) {
                problemAt(path(key) + "[" + i + "]", "must be a non-empty string");
            } else {
                out.add(String.valueOf(o).trim());
            }
        }
        return out;
    }

    public boolean bool(String key, boolean dflt) {
        Boolean b = value(key, Boolean.toString(dflt), v -> switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("must be true or false, not '" + v + "'");
        });
        return b == null ? dflt : b;
    }

    /** A whole number from {@code min} to {@code max}; the default when absent or wrong. */
    public int intInRange(String key, int dflt, int min, int max) {
        Object v = get(key);
        if (v == null) {
            return dflt;
        }
        long n;
        if (v instanceof Integer || v instanceof Long || v instanceof Short) {
            n = ((Number) v).longValue();
        } else if (v instanceof String s && s.trim().matches("-?\\d{1,18}")) {
            n = Long.parseLong(s.trim());
        } else {
            problem(key, "must be a whole number from " + min + " to " + max);
            return dflt;
        }
        if (n < min || n > max) {
            problem(key, "must be from " + min + " to " + max + ", got " + n);
            return dflt;
        }
        return (int) n;
    }

    /** A {@link GoDuration} that must be {@code > 0}. */
    public Duration positiveDuration(String key, String dflt) {
        return duration(key, dflt, false);
    }

    /** A {@link GoDuration} that must be {@code >= 0}. */
    public Duration nonNegativeDuration(String key, String dflt) {
        return duration(key, dflt, true);
    }

    private Duration duration(String key, String dflt, boolean zeroAllowed) {
        return value(key, dflt, v -> {
            Duration d = GoDuration.parse(v);
            if (d.isNegative() || d.isZero() && !zeroAllowed) {
                throw new IllegalArgumentException(zeroAllowed ? "must be >= 0" : "must be > 0");
            }
            return d;
        });
    }

    /** Records every key of this mapping that was not read. */
    public void done() {
        for (String k : map.keySet()) {
            if (!used.contains(k)) {
                problem(k, "unknown key; check the spelling against " + context.docHint);
            }
        }
    }

    private static String kind(Object v) {
        return v instanceof Map ? "mapping" : v instanceof List ? "list" : "single value";
    }
}
