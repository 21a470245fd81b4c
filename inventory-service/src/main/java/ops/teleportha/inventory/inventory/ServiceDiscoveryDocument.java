package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import ops.teleportha.inventory.discovery.DiscoveredHost;

/**
 * Prometheus HTTP service discovery for one port on every host: {@code /v1/sd/node-agent} (the node-agent's
 * metrics port) and {@code /v1/sd/teleport} (Teleport's diag port). Only hosts in service are targets
 * (InService, Healthy, running: {@link DiscoveredHost#ready()}): a host configuring itself at boot, or leaving
 * (scale-in, replacement, detached), is not watched, so that its alerts neither fire before it serves nor
 * page for a host that left on purpose; the inventory's converge state and
 * {@code teleport_inventory_boot_failures} say how those hosts are doing. Both documents carry the same labels
 * ({@link #labels}), so a node-agent's series and its Teleport's join on them.
 */
final class ServiceDiscoveryDocument {
    private final String cluster;
    private final int port;

    ServiceDiscoveryDocument(String cluster, int port) {
        this.cluster = cluster;
        this.port = port;
    }

    byte[] render(List<NamedHost> hosts) {
        ArrayNode sd = InventoryBuilder.JSON.createArrayNode();
        for (NamedHost n : hosts) {
            DiscoveredHost h = n.host();
            if (h.privateIp() == null || !h.ready()) {
                continue;
            }
            ObjectNode target = sd.addObject();
            target.putArray("targets").add(h.privateIp() + ":" + port);
            labels(target.putObject("labels"), n);
        }
        return InventoryBuilder.bytes(sd);
    }

    private void labels(ObjectNode labels, NamedHost n) {
        DiscoveredHost h = n.host();
        labels.put("teleport_cluster", cluster);
        labels.put("teleport_role", h.role());
        labels.put("teleport_ready", Boolean.toString(h.ready()));
        labels.put("inventory_host", n.name());
        labels.put("aws_region", h.region());
        labels.put("aws_availability_zone", String.valueOf(h.availabilityZone()));
        labels.put("aws_instance_id", h.instanceId());
        labels.put("aws_asg_name", h.asgName());
        labels.put("aws_lifecycle_state", String.valueOf(h.lifecycleState()));
        labels.put("teleport_converge_state", h.convergeState());
        // Empty for a host site.yml configured: Prometheus drops an empty label.
        labels.put("teleport_boot_config_digest", h.bootConfigDigest() == null ? "" : h.bootConfigDigest());
    }
}
