package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import ops.teleportha.inventory.discovery.DiscoveredHost;

/**
 * {@code /v1/sd/node-agent}: Prometheus HTTP service discovery. Every running host with a private IP is
 * a target on the node-agent's metrics port, ready or not, so that a host on its way in or out is still
 * watched.
 */
final class ServiceDiscoveryDocument {
    private final String cluster;
    private final int metricsPort;

    ServiceDiscoveryDocument(String cluster, int metricsPort) {
        this.cluster = cluster;
        this.metricsPort = metricsPort;
    }

    byte[] render(List<NamedHost> hosts) {
        ArrayNode sd = InventoryBuilder.JSON.createArrayNode();
        for (NamedHost n : hosts) {
            DiscoveredHost h = n.host();
            if (h.privateIp() == null || !"running".equals(h.ec2State())) {
                continue;
            }
            ObjectNode target = sd.addObject();
            target.putArray("targets").add(h.privateIp() + ":" + metricsPort);
            ObjectNode labels = target.putObject("labels");
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
        return InventoryBuilder.bytes(sd);
    }
}
