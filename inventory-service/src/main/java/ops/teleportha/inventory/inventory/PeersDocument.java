package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;

/** {@code /v1/peers}: every ready proxy's {@code peer_public_addr}, sorted, for the node-agents' probes. */
final class PeersDocument {
    private final String cluster;

    PeersDocument(String cluster) {
        this.cluster = cluster;
    }

    byte[] render(List<NamedHost> hosts, List<String> staleRegions, Instant now) {
        ObjectNode doc = InventoryBuilder.JSON.createObjectNode();
        doc.put("cluster", cluster);
        doc.put("generated_at", now.truncatedTo(ChronoUnit.SECONDS).toString());
        ArrayNode stale = doc.putArray("stale_regions");
        staleRegions.forEach(stale::add);
        ArrayNode peers = doc.putArray("peers");
        hosts.stream()
                .filter(NamedHost::isPeer)
                .sorted(Comparator.comparing(NamedHost::peerAddr))
                .forEach(h -> {
                    ObjectNode p = peers.addObject();
                    p.put("addr", h.peerAddr());
                    p.put("host", h.name());
                    p.put("instance_id", h.host().instanceId());
                    p.put("region", h.host().region());
                    p.put("availability_zone", h.host().availabilityZone());
                    p.put("asg", h.host().asgName());
                });
        return InventoryBuilder.bytes(doc);
    }
}
