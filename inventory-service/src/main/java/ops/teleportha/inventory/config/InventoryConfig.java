package ops.teleportha.inventory.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

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
        NodeAgent nodeAgent) {

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

    public record Serve(String listenHost, int listenPort, Optional<Path> tokenFile) {}

    public record NodeAgent(int metricsPort) {}
}
