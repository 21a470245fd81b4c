package ops.teleportha.inventory.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import ops.teleportha.config.ConfigException;

/**
 * A small "{placeholder}" template, validated when the config is loaded so a typo fails at start
 * rather than on the first host. Placeholders name host attributes; {tag:Key} reads an instance tag.
 */
public final class Template {
    public static final Set<String> PLACEHOLDERS = Set.of(
            "instance_id",
            "region",
            "role",
            "asg",
            "availability_zone",
            "private_ip",
            "public_ip",
            "private_dns",
            "public_dns",
            "private_dns_or_ip",
            "public_dns_or_ip");

    private final String source;
    private final List<String> parts; // even index: literal, odd index: placeholder name

    private Template(String source, List<String> parts) {
        this.source = source;
        this.parts = parts;
    }

    /** @throws ConfigException naming {@code path} */
    public static Template parse(String path, String text) {
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(path + ": " + e.getMessage());
        }
    }

    /** @throws IllegalArgumentException saying what is wrong, without naming the key */
    public static Template parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("must not be empty");
        }
        List<String> parts = new ArrayList<>();
        StringBuilder literal = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c == '}') {
                throw new IllegalArgumentException("unbalanced '}' at position " + i + " in '" + text + "'");
            }
            if (c != '{') {
                literal.append(c);
                i++;
                continue;
            }
            int end = text.indexOf('}', i);
            if (end < 0) {
                throw new IllegalArgumentException("unclosed '{' at position " + i + " in '" + text + "'");
            }
            String name = text.substring(i + 1, end);
            boolean isTag = name.startsWith("tag:") && name.length() > 4;
            if (!isTag && !PLACEHOLDERS.contains(name)) {
                throw new IllegalArgumentException("unknown placeholder {" + name + "} in '" + text
                        + "'; known: "
                        + String.join(", ", PLACEHOLDERS.stream().sorted().toList())
                        + ", tag:<Key>");
            }
            parts.add(literal.toString());
            literal.setLength(0);
            parts.add(name);
            i = end + 1;
        }
        parts.add(literal.toString());
        return new Template(text, List.copyOf(parts));
    }

    /**
     * Renders with values from {@code lookup}; a placeholder whose value is missing or empty is an
     * error naming the placeholder, because a silently blank address would be a wrong address.
     */
    public String render(Function<String, String> lookup) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            if (i % 2 == 0) {
                out.append(parts.get(i));
                continue;
            }
            String value = lookup.apply(parts.get(i));
            if (value == null || value.isEmpty()) {
                throw new IllegalArgumentException("{" + parts.get(i) + "} has no value");
            }
            out.append(value);
        }
        return out.toString();
    }

    public String source() {
        return source;
    }

    @Override
    public String toString() {
        return source;
    }
}
