package ops.teleportha.inventory.discovery;

import java.time.Instant;
import java.util.List;

/**
 * A successful discovery of one region: the cluster's member hosts, the instances that carry the
 * cluster's tags but were left out, with why, and each member group's failed boot converges.
 */
public record RegionResult(
        String region,
        List<DiscoveredHost> hosts,
        List<ExcludedHost> excluded,
        List<PoolBootFailures> bootFailures,
        int groups,
        int skippedGroups,
        Instant fetchedAt) {
    public RegionResult {
        hosts = List.copyOf(hosts);
        excluded = List.copyOf(excluded);
        bootFailures = List.copyOf(bootFailures);
    }

    /** A region where every discovered host is a member. */
    public RegionResult(String region, List<DiscoveredHost> hosts, int groups, int skippedGroups, Instant fetchedAt) {
        this(region, hosts, List.of(), List.of(), groups, skippedGroups, fetchedAt);
    }
}
