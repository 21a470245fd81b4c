package ops.teleportha.inventory.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import ops.teleportha.config.Loopback;

/** The whole configuration, immutable and validated by {@link ConfigLoader}. */
public record InventoryConfig(
        String cluster,
        List<String> regions,
        Tags tags,
        AnsibleHost ansibleHost,
        Template hostNameTemplate,
        Template peerAddrTemplate,
        Aws aws,
        Refresh refresh,
        Serve serve,
        NodeAgent nodeAgent,
        Teleport teleport) {

    /** Tag keys on the Auto Scaling groups. */
    public record Tags(String cluster, String role) {}

    public record AnsibleHost(AnsibleHostSource source, Optional<String> tag) {}

    public record Aws(
            Optional<URI> endpointUrl,
            Map<String, URI> regionEndpoints,
            Optional<String> assumeRoleArn,
            Optional<String> assumeRoleExternalId,
            String assumeRoleSessionName,
            int maxConcurrency,
            int maxAttempts,
            Duration apiCallTimeout) {

        /** The endpoint for one region: a per-region override, else the global one, else AWS. */
        public Optional<URI> endpointFor(String region) {
            URI perRegion = regionEndpoints.get(region);
            return perRegion != null ? Optional.of(perRegion) : endpointUrl;
        }
    }

    public record Refresh(Duration interval, Duration maxStaleness) {}

    /**
     * @param tls the certificate and key to serve HTTPS with; without it, plain HTTP (loopback only)
     */
    public record Serve(String listenHost, int listenPort, Optional<Path> tokenFile, Optional<Tls> tls) {
        /** The listen host is 127.0.0.0/8, ::1 or localhost; a wildcard (0.0.0.0, ::) or any other name is not. */
        public boolean loopback() {
            return Loopback.is(listenHost);
        }
    }

    /** PEM files: the certificate (leaf first, then its chain) and its private key. */
    public record Tls(Path certFile, Path keyFile) {}

    public record NodeAgent(int metricsPort) {}

    /** @param diagPort the port of Teleport's {@code diag_addr} (/metrics, /readyz) on every host */
    public record Teleport(int diagPort) {}
}
