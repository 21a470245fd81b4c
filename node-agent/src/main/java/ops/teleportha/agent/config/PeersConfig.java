package ops.teleportha.agent.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import ops.teleportha.config.HostPort;

/** {@code peers:} section: where the proxy-peer list comes from and how to probe it. */
public record PeersConfig(
        boolean enabled,
        HostPort selfAddr,
        URI inventoryUrl,
        Path inventoryTokenFile,
        Path file,
        Duration refreshInterval,
        Duration probeInterval,
        Duration probeTimeout) {}
