package ops.teleportha.inventory.discovery;

import java.time.Instant;
import java.util.List;

/** A successful discovery of one region. */
public record RegionResult(
        String region, List<DiscoveredHost> hosts, int groups, int skippedGroups, Instant fetchedAt) {
    public RegionResult {
        hosts = List.copyOf(hosts);
    }
}
