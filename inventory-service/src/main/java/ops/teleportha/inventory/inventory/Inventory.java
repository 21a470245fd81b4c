package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.discovery.ExcludedHost;
import ops.teleportha.inventory.discovery.PoolBootFailures;

/**
 * One immutable, fully rendered inventory. The JSON documents are rendered once per refresh so that
 * serving them is a memory copy.
 */
public record Inventory(
        Instant generatedAt,
        List<String> staleRegions,
        Map<String, ObjectNode> hostvars,
        byte[] inventoryJson,
        byte[] peersJson,
        byte[] serviceDiscoveryJson,
        byte[] teleportServiceDiscoveryJson,
        List<HostCount> counts,
        List<ExcludedHost> excluded,
        List<PoolBootFailures> bootFailures,
        Map<String, SshTarget> sshTargets) {

    /** A ready host SSH may connect to, by the address Ansible uses for it ({@code ansible_host}) and by name. */
    public record SshTarget(String name, String address, String region, String instanceId) {}

    /** The ready host that SSH reaches at {@code host} (an address or an inventory name), or {@code null}. */
    public SshTarget sshTarget(String host) {
        return sshTargets.get(host);
    }

    /** Hosts per region, role and lifecycle category, for metrics. */
    public record HostCount(String region, String role, String state, int hosts) {}
}
