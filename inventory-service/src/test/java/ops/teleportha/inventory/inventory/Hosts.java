package ops.teleportha.inventory.inventory;

import java.util.Map;
import ops.teleportha.inventory.discovery.DiscoveredHost;

/** Builders for discovered-host records in unit tests (plain data, no AWS involved). */
final class Hosts {
    private Hosts() {}

    static DiscoveredHost host(String region, String role, String id, int ipSuffix, String lifecycle, String health) {
        String ip = "198.18." + (region.hashCode() & 0x7f) + "." + ipSuffix;
        return new DiscoveredHost(
                region,
                role,
                "teleport-" + role + "-" + region,
                id,
                region + "a",
                lifecycle,
                health,
                "running",
                ip,
                null,
                "ip-" + ip.replace('.', '-') + ".ec2.internal",
                null,
                "m6i.large",
                "ami-1",
                Map.of("Name", role + "-" + id, "TeleportRole", role));
    }

    static DiscoveredHost ready(String region, String role, String id, int ipSuffix) {
        return host(region, role, id, ipSuffix, "InService", "Healthy");
    }

    /** A ready host whose Auto Scaling group name and tags are what an attacker chose. */
    static DiscoveredHost withTags(DiscoveredHost h, String asgName, Map<String, String> tags) {
        return new DiscoveredHost(
                h.region(),
                h.role(),
                asgName,
                h.instanceId(),
                h.availabilityZone(),
                h.lifecycleState(),
                h.healthStatus(),
                h.ec2State(),
                h.privateIp(),
                h.publicIp(),
                h.privateDns(),
                h.publicDns(),
                h.instanceType(),
                h.imageId(),
                tags);
    }
}
