package ops.teleportha.inventory.discovery;

import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import ops.teleportha.inventory.config.InventoryConfig;

/** Discovers every configured region in parallel, at most {@code aws.max_concurrency} at a time. */
public final class Discovery implements AutoCloseable {
    /** The outcome for one region: exactly one of result or failure is set. */
    public record Outcome(String region, RegionResult result, RegionFailure failure, double seconds) {
        public boolean ok() {
            return result != null;
        }
    }

    private final List<String> regions;
    private final RegionDiscoverer discoverer;
    private final ExecutorService pool;

    public Discovery(InventoryConfig config, AwsClients clients, Clock clock) {
        this.regions = config.regions();
        this.discoverer = new RegionDiscoverer(config, clients, clock);
        this.pool = Executors.newFixedThreadPool(Math.min(config.aws().maxConcurrency(), regions.size()), r -> {
            Thread t = new Thread(r, "discovery");
            t.setDaemon(true);
            return t;
        });
    }

    public Map<String, Outcome> discoverAll() {
        Map<String, Future<Outcome>> futures = new LinkedHashMap<>();
        for (String region : regions) {
            futures.put(region, pool.submit(() -> discoverOne(region)));
        }
        Map<String, Outcome> out = new LinkedHashMap<>();
        for (var e : futures.entrySet()) {
            try {
                out.put(e.getKey(), e.getValue().get());
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while discovering " + e.getKey(), ie);
            } catch (ExecutionException ee) {
                out.put(e.getKey(), new Outcome(e.getKey(), null, RegionFailure.of(e.getKey(), ee.getCause()), 0));
            }
        }
        return out;
    }

    private Outcome discoverOne(String region) {
        long start = System.nanoTime();
        try {
            RegionResult r = discoverer.discover(region);
            return new Outcome(region, r, null, (System.nanoTime() - start) / 1e9);
        } catch (RuntimeException e) {
            return new Outcome(region, null, RegionFailure.of(region, e), (System.nanoTime() - start) / 1e9);
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
