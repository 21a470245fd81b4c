package ops.teleportha.agent;

import java.time.Instant;

/** One-line logs on stderr for journald; no logging framework, to keep the agent small. Never pass secrets. */
public final class Log {
    private Log() {}

    public static void info(String component, String message) {
        write("INFO", component, message);
    }

    public static void warn(String component, String message) {
        write("WARN", component, message);
    }

    public static void error(String component, String message) {
        write("ERROR", component, message);
    }

    private static void write(String level, String component, String message) {
        System.err.println(Instant.now() + " " + level + " [" + component + "] " + message.replace('\n', ' '));
    }
}
