package ops.teleportha.inventory.inventory;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.Discovery;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.inventory.RegionStore.RegionHealth;
import ops.teleportha.inventory.inventory.RegionStore.RegionView;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one engine behind both modes: discovers every region, folds the outcome into the per-region
 * store and renders a new inventory. {@code list} calls {@link #refresh()} once; {@code serve}
 * schedules it and serves whatever {@link #current()} holds.
 */
public final class InventoryService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InventoryService.class);

    /**
     * What is being served: a complete inventory, or the reason there is none.
     *
     * @param error the whole reason, with AWS's messages and host names: for the log and authenticated answers
     * @param regions each region's status and failure class: what unauthenticated answers may show
     *     ({@link ReadinessDocument})
     */
    public record Current(Inventory inventory, String error, List<RegionHealth> regions) {
        public Current {
            regions = List.copyOf(regions);
        }

        /** Without per-region health: unauthenticated answers then only say where to look. */
        public Current(Inventory inventory, String error) {
            this(inventory, error, List.of());
        }
    }

    private final InventoryConfig config;
    private final Discovery discovery;
    private final RegionStore store;
    private final InventoryBuilder builder;
    private final InventoryMetrics metrics;
    private final Clock clock;
    private final AtomicReference<Current> current;
    private ScheduledExecutorService scheduler;

    public InventoryService(InventoryConfig config, Discovery discovery, InventoryMetrics metrics, Clock clock) {
        this.config = config;
        this.discovery = discovery;
        this.store = new RegionStore(config.regions());
        this.builder = new InventoryBuilder(config);
        this.metrics = metrics;
        this.clock = clock;
        this.current = new AtomicReference<>(new Current(
                null,
                "inventory not discovered yet",
                healthOf(store.view(clock.instant(), config.refresh().maxStaleness()))));
    }

    private static List<RegionHealth> healthOf(List<RegionView> views) {
        return views.stream().map(RegionView::health).toList();
    }

    public synchronized Current refresh() {
        Map<String, Outcome> outcomes = discovery.discoverAll();
        for (Outcome o : outcomes.values()) {
            store.record(o);
            metrics.recordOutcome(o);
            if (o.ok()) {
                LOG.info(
                        "{}: {} hosts in {} Teleport Auto Scaling groups ({} s)",
                        o.region(),
                        o.result().hosts().size(),
                        o.result().groups(),
                        String.format("%.2f", o.seconds()));
            } else {
                LOG.warn(
                        "{}: discovery failed ({}): {}",
                        o.region(),
                        o.failure().reason(),
                        o.failure().message());
            }
        }
        List<RegionView> views = store.view(clock.instant(), config.refresh().maxStaleness());
        Current next;
        try {
            next = new Current(builder.build(views, clock.instant()), null, healthOf(views));
            if (!next.inventory().staleRegions().isEmpty()) {
                LOG.warn(
                        "serving last good data for stale regions {}",
                        next.inventory().staleRegions());
            }
        } catch (InventoryUnavailableException e) {
            LOG.error("{}", e.getMessage());
            next = new Current(null, e.getMessage(), healthOf(views));
        }
        metrics.recordState(views, next.inventory());
        current.set(next);
        return next;
    }

    public Current current() {
        return current.get();
    }

    public void startBackgroundRefresh() {
        scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "refresh");
            t.setDaemon(true);
            return t;
        });
        long period = config.refresh().interval().toMillis();
        scheduler.scheduleWithFixedDelay(
                () -> {
                    try {
                        refresh();
                    } catch (RuntimeException e) {
                        // Never let the schedule die: the next tick tries again and the metrics show the gap.
                        LOG.error("refresh failed unexpectedly", e);
                    }
                    // A refresh is a burst of garbage (the SDK's parsed responses) between long idle spells,
                    // and the serial collector only gives heap back to the OS after a full collection: one
                    // now, with the role's heap free ratios, keeps the idle RSS near the live set.
                    System.gc();
                },
                0,
                period,
                TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
        discovery.close();
    }
}
