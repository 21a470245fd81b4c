package ops.teleportha.inventory.discovery;

import java.time.Instant;
import java.util.List;

/**
 * A successful discovery of one region: the cluster's member hosts, and the instances that carry the
 * cluster's tags but were left out, with why.
 */
public record RegionResult(
        String region,
        List<DiscoveredHost> hosts,
        List<ExcludedHost> excluded,
        int groups,
        int skippedGroups,
        Instant fetchedAt) {
    public RegionResult {
        hosts = List.copyOf(hosts);
        excluded = List.copyOf(excluded);
    }

    /** A region where every discovered host is a member. */
    public RegionResult(String region, List<DiscoveredHost> hosts, int groups, int skippedGroups, Instant fetchedAt) {
        this(region, hosts, List.of(), groups, skippedGroups, fetchedAt);
    }
}
