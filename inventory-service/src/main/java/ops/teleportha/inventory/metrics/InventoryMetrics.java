package ops.teleportha.inventory.metrics;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.Histogram;
import io.prometheus.client.exporter.common.TextFormat;
import io.prometheus.client.hotspot.DefaultExports;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.discovery.PoolBootFailures;
import ops.teleportha.inventory.inventory.Inventory;
import ops.teleportha.inventory.inventory.RegionStore.RegionView;
import ops.teleportha.inventory.inventory.RegionStore.Status;

/** The service's Prometheus metrics, in a registry of its own. Labels are bounded: region, role, state, reason, endpoint, and the member groups' names. */
public final class InventoryMetrics {
    private static final String P = "teleport_inventory_";
    private final CollectorRegistry registry = new CollectorRegistry(true);

    private final Counter refreshes = Counter.build(P + "region_refreshes_total", "Region discoveries by result.")
            .labelNames("region", "result")
            .register(registry);
    private final Counter failures = Counter.build(
                    P + "region_refresh_failures_total", "Failed region discoveries by reason.")
            .labelNames("region", "reason")
            .register(registry);
    private final Histogram duration = Histogram.build(
                    P + "region_refresh_duration_seconds", "Time to discover one region.")
            .labelNames("region")
            .buckets(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
            .register(registry);
    private final Gauge lastSuccess = Gauge.build(
                    P + "region_last_success_timestamp_seconds", "When the region was last discovered successfully.")
            .labelNames("region")
            .register(registry);
    private final Gauge stale = Gauge.build(
                    P + "region_stale", "1 when the region is served from its last good data after a failed refresh.")
            .labelNames("region")
            .register(registry);
    private final Gauge available = Gauge.build(
                    P + "region_available", "1 when the region has data that may be served.")
            .labelNames("region")
            .register(registry);
    private final Gauge hosts = Gauge.build(
                    P + "hosts",
                    "Discovered hosts by region, role and lifecycle state (ready, pending, standby, terminating, unhealthy, other).")
            .labelNames("region", "role", "state")
            .register(registry);
    private final Gauge excluded = Gauge.build(
                    P + "hosts_excluded",
                    "Instances with the cluster's tags left out of the inventory, by region and reason (not_a_member,"
                            + " invalid_host_name, invalid_ansible_host, invalid_peer_addr, invalid_tag).")
            .labelNames("region", "reason")
            .register(registry);
    private final Gauge bootFailures = Gauge.build(
                    P + "boot_failures",
                    "Launches of each member Auto Scaling group that failed their boot converge (abandoned by"
                            + " teleport-ha-boot) since the group's newest instance that reached InService.")
            .labelNames("region", "role", "asg")
            .register(registry);
    private final Gauge bootFailureReason = Gauge.build(
                    P + "boot_failure_reason",
                    "1 for the reason class of the newest of a group's boot failures (teleport_inventory_boot_failures)"
                            + " while there are any.")
            .labelNames("region", "role", "asg", "reason")
            .register(registry);
    private final Gauge ready = Gauge.build(P + "ready", "1 when a complete inventory is being served.")
            .register(registry);
    private final Gauge lastBuild = Gauge.build(
                    P + "last_render_timestamp_seconds", "When the served inventory was rendered.")
            .register(registry);
    private final Counter requests = Counter.build(
                    P + "http_requests_total", "HTTP requests by endpoint and status code.")
            .labelNames("endpoint", "code")
            .register(registry);

    public InventoryMetrics(String version) {
        Gauge.build(P + "build_info", "Build information.")
                .labelNames("version")
                .register(registry)
                .labels(version)
                .set(1);
    }

    /** JVM and process metrics, for {@code serve}; {@code list} never exposes metrics and skips their set-up. */
    public InventoryMetrics withJvmMetrics() {
        DefaultExports.register(registry);
        return this;
    }

    public void recordOutcome(Outcome o) {
        refreshes.labels(o.region(), o.ok() ? "success" : "failure").inc();
        duration.labels(o.region()).observe(o.seconds());
        if (o.ok()) {
            lastSuccess.labels(o.region()).set(o.result().fetchedAt().toEpochMilli() / 1000.0);
        } else {
            failures.labels(o.region(), o.failure().reason()).inc();
        }
    }

    public void recordState(List<RegionView> views, Inventory inventory) {
        for (RegionView v : views) {
            stale.labels(v.region()).set(v.status() == Status.STALE ? 1 : 0);
            available.labels(v.region()).set(v.status() == Status.UNAVAILABLE ? 0 : 1);
        }
        ready.set(inventory == null ? 0 : 1);
        if (inventory != null) {
            hosts.clear();
            inventory
                    .counts()
                    .forEach(c -> hosts.labels(c.region(), c.role(), c.state()).set(c.hosts()));
            lastBuild.set(inventory.generatedAt().toEpochMilli() / 1000.0);
            excluded.clear();
            Map<List<String>, Integer> byReason = new TreeMap<>(Comparator.comparing(Object::toString));
            inventory.excluded().forEach(e -> byReason.merge(List.of(e.region(), e.reason()), 1, Integer::sum));
            byReason.forEach((k, n) -> excluded.labels(k.get(0), k.get(1)).set(n));
            bootFailures.clear();
            bootFailureReason.clear();
            for (PoolBootFailures f : inventory.bootFailures()) {
                bootFailures.labels(f.region(), f.role(), f.asg()).set(f.consecutive());
                if (f.latestReason() != null) {
                    bootFailureReason
                            .labels(f.region(), f.role(), f.asg(), f.latestReason())
                            .set(1);
                }
            }
        }
    }

    public void recordRequest(String endpoint, int code) {
        requests.labels(endpoint, Integer.toString(code)).inc();
    }

    public String scrape() {
        StringWriter w = new StringWriter();
        try {
            TextFormat.write004(w, registry.metricFamilySamples());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }
}
