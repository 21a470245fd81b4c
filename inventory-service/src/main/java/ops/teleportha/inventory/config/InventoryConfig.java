package ops.teleportha.inventory.config;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

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

    /**
     * @param tls the certificate and key to serve HTTPS with; without it, plain HTTP (loopback only)
     */
    public record Serve(String listenHost, int listenPort, Optional<Path> tokenFile, Optional<Tls> tls) {
        /** The listen host is 127.0.0.0/8, ::1 or localhost; a wildcard (0.0.0.0, ::) or any other name is not. */
        public boolean loopback() {
            return isLoopback(listenHost);
        }

        /** Literal addresses only, so that no name is resolved to decide: any name but localhost counts as open. */
        public static boolean isLoopback(String host) {
            if (host.equals("localhost")) {
                return true;
            }
            if (!IPV4.matcher(host).matches() && !IPV6.matcher(host).matches()) {
                return false;
            }
            try {
                return InetAddress.getByName(host).isLoopbackAddress(); // a literal: no lookup
            } catch (UnknownHostException e) {
                return false;
            }
        }

        private static final Pattern IPV4 =
                Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
        // Hex digits, colons and dots only, so InetAddress parses it and never looks it up.
        private static final Pattern IPV6 = Pattern.compile("[0-9a-f.]*:[0-9a-f:.]*");
    }

    /** PEM files: the certificate (leaf first, then its chain) and its private key. */
    public record Tls(Path certFile, Path keyFile) {}

    public record NodeAgent(int metricsPort) {}
}
