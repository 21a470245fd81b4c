package ops.teleportha.agent.config;

import java.util.List;

/** Every problem found in a config file, each one line starting with the key path. */
public final class ConfigException extends Exception {
    private final List<String> problems;

    public ConfigException(String file, List<String> problems) {
        super("invalid config " + file + ":\n  " + String.join("\n  ", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
