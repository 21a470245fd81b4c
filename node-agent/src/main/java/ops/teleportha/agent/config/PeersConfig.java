package ops.teleportha.agent.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import ops.teleportha.config.HostPort;

/**
 * {@code peers:} section: where the proxy-peer list comes from and how to probe it.
 *
 * @param inventoryCaFile PEM of the only CAs trusted for an https {@code inventoryUrl}; {@code null}: the JVM's
 * @param inventoryAllowPlaintext send the token over plain http beyond loopback (trusted test networks only)
 */
public record PeersConfig(
        boolean enabled,
        HostPort selfAddr,
        URI inventoryUrl,
        Path inventoryTokenFile,
        Path inventoryCaFile,
        boolean inventoryAllowPlaintext,
        Path file,
        Duration refreshInterval,
        Duration probeInterval,
        Duration probeTimeout) {}
