package ops.teleportha.agent.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import ops.teleportha.config.HostPort;

/** {@code tls:} section: where candidates arrive, where Teleport reads the pair, and what a good pair is. */
public record TlsConfig(
        boolean enabled,
        Path sourceDir,
        Path targetDir,
        Path rejectedDir,
        String owner,
        String group,
        List<String> requiredNames,
        Path trustBundle,
        Duration minValidity,
        Duration rescanInterval,
        Duration settleTime,
        long maxFileBytes,
        Reload reload,
        Verify verify) {

    public TlsConfig {
        requiredNames = List.copyOf(requiredNames);
    }

    public enum ReloadMode {
        INTERVAL,
        COMMAND
    }

    /** How Teleport picks up a new pair: its own reload interval, or a command such as {@code systemctl reload teleport}. */
    public record Reload(ReloadMode mode, List<String> command, Duration commandTimeout) {
        public Reload {
            command = List.copyOf(command);
        }
    }

    /** Where Teleport serves HTTPS locally, to confirm it serves the new certificate; {@code addr == null} disables. */
    public record Verify(HostPort addr, String serverName, Duration timeout, Duration pollInterval) {}
}
