package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.UncheckedIOException;
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

    /** Written target by target (no tree of every host's labels is built first). */
    byte[] render(List<NamedHost> hosts) {
        AnsibleInventoryDocument.Document out = new AnsibleInventoryDocument.Document(512 * hosts.size());
        try (JsonGenerator g = InventoryBuilder.JSON.getFactory().createGenerator(out)) {
            g.writeStartArray();
            for (NamedHost n : hosts) {
                DiscoveredHost h = n.host();
                if (h.privateIp() == null || !h.ready()) {
                    continue;
                }
                g.writeStartObject();
                g.writeArrayFieldStart("targets");
                g.writeString(h.privateIp() + ":" + port);
                g.writeEndArray();
                g.writeObjectFieldStart("labels");
                labels(g, n);
                g.writeEndObject();
                g.writeEndObject();
            }
            g.writeEndArray();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render service discovery", e);
        }
        return out.take();
    }

    private void labels(JsonGenerator g, NamedHost n) throws IOException {
        DiscoveredHost h = n.host();
        g.writeStringField("teleport_cluster", cluster);
        g.writeStringField("teleport_role", h.role());
        g.writeStringField("teleport_ready", Boolean.toString(h.ready()));
        g.writeStringField("inventory_host", n.name());
        g.writeStringField("aws_region", h.region());
        g.writeStringField("aws_availability_zone", String.valueOf(h.availabilityZone()));
        g.writeStringField("aws_instance_id", h.instanceId());
        g.writeStringField("aws_asg_name", h.asgName());
        g.writeStringField("aws_lifecycle_state", String.valueOf(h.lifecycleState()));
        g.writeStringField("teleport_converge_state", h.convergeState());
        // Empty for a host site.yml configured: Prometheus drops an empty label.
        g.writeStringField("teleport_boot_config_digest", h.bootConfigDigest() == null ? "" : h.bootConfigDigest());
    }
}
