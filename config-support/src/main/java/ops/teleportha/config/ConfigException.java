package ops.teleportha.config;

import java.util.ArrayList;
import java.util.List;

/**
 * Every problem found in one configuration, each starting with its key path
 * ({@code peers.probe_interval: must be > 0}). The message is one line per problem, each prefixed with
 * where the configuration came from, so that a person sees them all at once.
 */
public final class ConfigException extends RuntimeException {
    private final String origin;
    private final List<String> problems;

    /** @param origin the file (or other source) the problems are in; {@code null} when the problems name it */
    public ConfigException(String origin, List<String> problems) {
        super(render(origin, problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
        this.origin = origin;
        this.problems = List.copyOf(problems);
    }

    /** One problem whose text already says where it is. */
    public ConfigException(String problem) {
        this(null, List.of(problem));
    }

    public String origin() {
        return origin;
    }

    /** The problems without the origin, each starting with its key path. */
    public List<String> problems() {
        return problems;
    }

    /** One line per problem, prefixed with the origin: what a command prints on stderr. */
    public List<String> lines() {
        List<String> lines = new ArrayList<>();
        for (String p : problems) {
            lines.add(origin == null ? p : origin + ": " + p);
        }
        return lines;
    }

    private static String render(String origin, List<String> problems) {
        StringBuilder b = new StringBuilder();
        for (String p : problems) {
            if (b.length() > 0) {
                b.append('\n');
            }
            b.append(origin == null ? "" : origin + ": ").append(p);
        }
        return b.toString();
    }
}
