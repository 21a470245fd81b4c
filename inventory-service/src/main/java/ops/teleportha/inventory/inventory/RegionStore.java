package ops.teleportha.inventory.inventory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.discovery.RegionFailure;
import ops.teleportha.inventory.discovery.RegionResult;

/**
 * Remembers, per region, the last good discovery and the last failure. A region whose latest refresh
 * failed keeps serving its last good data, marked stale, until that data is older than
 * {@code refresh.max_staleness}; a region that never succeeded is unavailable.
 */
public final class RegionStore {
    public enum Status {
        FRESH,
        STALE,
        UNAVAILABLE
    }

    public record RegionView(String region, Status status, RegionResult data, RegionFailure lastFailure, Duration age) {

        /** What anyone may learn about this region: see {@link RegionHealth}. */
        public RegionHealth health() {
            return new RegionHealth(
                    region,
                    status,
                    status == Status.FRESH || lastFailure == null ? null : lastFailure.reason(),
                    data != null);
        }
    }

    /**
     * What an unauthenticated caller may learn about a region: its status and, when it is not fresh, the class
     * of its last failure ({@link RegionFailure#reason()}, as the failure metrics count it). Never AWS's
     * message, which can name the account, a role ARN or an instance.
     *
     * @param reason {@code null} while fresh, or before the first discovery attempt ended
     * @param everDiscovered whether the region has last good data (it may be too old to serve)
     */
    public record RegionHealth(String region, Status status, String reason, boolean everDiscovered) {}

    private record State(RegionResult lastGood, RegionFailure lastFailure, boolean lastAttemptFailed) {}

    private final List<String> regions;
    private final Map<String, State> states = new LinkedHashMap<>();

    public RegionStore(List<String> regions) {
        this.regions = List.copyOf(regions);
        for (String r : regions) {
            states.put(r, new State(null, null, false));
        }
    }

    public synchronized void record(Outcome o) {
        State prev = states.get(o.region());
        states.put(
                o.region(),
                o.ok() ? new State(o.result(), null, false) : new State(prev.lastGood(), o.failure(), true));
    }

    public synchronized List<RegionView> view(Instant now, Duration maxStaleness) {
        List<RegionView> out = new ArrayList<>();
        for (String r : regions) {
            State s = states.get(r);
            if (s.lastGood() == null) {
                out.add(new RegionView(r, Status.UNAVAILABLE, null, s.lastFailure(), null));
                continue;
            }
            Duration age = Duration.between(s.lastGood().fetchedAt(), now);
            Status status = !s.lastAttemptFailed()
                    ? Status.FRESH
                    : age.compareTo(maxStaleness) > 0 ? Status.UNAVAILABLE : Status.STALE;
            out.add(new RegionView(r, status, s.lastGood(), s.lastFailure(), age));
        }
        return out;
    }
}
