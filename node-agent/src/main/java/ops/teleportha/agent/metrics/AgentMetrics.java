package ops.teleportha.agent.metrics;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.hotspot.BufferPoolsExports;
import io.prometheus.client.hotspot.ClassLoadingExports;
import io.prometheus.client.hotspot.GarbageCollectorExports;
import io.prometheus.client.hotspot.MemoryPoolsExports;
import io.prometheus.client.hotspot.StandardExports;
import io.prometheus.client.hotspot.ThreadExports;
import io.prometheus.client.hotspot.VersionInfoExports;
import java.time.Instant;
import java.util.Collection;
import java.util.HashSet;
import java.util.Set;

/**
 * Every metric the agent exports, prefixed {@code teleport_node_agent_}, in base units. Label values come
 * from fixed enums, except {@code peer}, which is bounded by the peer list and removed when a peer leaves it.
 */
public final class AgentMetrics {
    public static final String PREFIX = "teleport_node_agent_";

    private final CollectorRegistry registry;
    private final Gauge certNotAfter;
    private final Gauge certNotBefore;
    private final Counter rotations;
    private final Counter rejections;
    private final Gauge tlsLastCheck;
    private final Gauge tlsLastRotation;
    private final Gauge peers;
    private final Gauge peerUp;
    private final Gauge peerConnect;
    private final Gauge peerHandshake;
    private final Counter probeErrors;
    private final Gauge probeCycle;
    private final Gauge lastProbe;
    private final Counter peerListErrors;
    private final Gauge peerListLastRefresh;
    private final Set<String> knownPeers = new HashSet<>();

    /** Every metric, both parts' included (tests, and the bench's single registry). */
    public AgentMetrics(CollectorRegistry registry, String version, boolean jvmMetrics) {
        this(registry, version, jvmMetrics, true, true);
    }

    /**
     * A part that is off exports no series at all: a TLS gauge that was never set reads 0, which an alert such
     * as "no TLS check for 5 minutes" or "the certificate expires within 14 days" takes for a real value, so
     * on an auth host (rotation off) those alerts would fire for ever.
     */
    public AgentMetrics(
            CollectorRegistry registry, String version, boolean jvmMetrics, boolean tlsEnabled, boolean peersEnabled) {
        this.registry = registry;
        // The collectors of a part that is off still exist (nothing calls them) but are registered nowhere.
        CollectorRegistry tlsRegistry = tlsEnabled ? registry : new CollectorRegistry();
        CollectorRegistry peerRegistry = peersEnabled ? registry : new CollectorRegistry();
        Gauge.build(PREFIX + "build_info", "Build of the running agent; always 1.")
                .labelNames("version", "java_version")
                .register(registry)
                .labels(version, System.getProperty("java.version"))
                .set(1);
        certNotAfter = Gauge.build(
                        PREFIX + "tls_cert_not_after_timestamp_seconds",
                        "Not-after time of the installed leaf certificate, Unix seconds.")
                .register(tlsRegistry);
        certNotBefore = Gauge.build(
                        PREFIX + "tls_cert_not_before_timestamp_seconds",
                        "Not-before time of the installed leaf certificate, Unix seconds.")
                .register(tlsRegistry);
        rotations = Counter.build(
                        PREFIX + "tls_rotations_total",
                        "Rotation attempts by result: installed, rejected, rolled_back, unconfirmed, failed.")
                .labelNames("result")
                .register(tlsRegistry);
        rejections = Counter.build(PREFIX + "tls_rejections_total", "Rejected candidate pairs by reason.")
                .labelNames("reason")
                .register(tlsRegistry);
        tlsLastCheck = Gauge.build(
                        PREFIX + "tls_last_check_timestamp_seconds",
                        "When the source directory was last checked, Unix seconds.")
                .register(tlsRegistry);
        tlsLastRotation = Gauge.build(
                        PREFIX + "tls_last_rotation_timestamp_seconds",
                        "When a pair was last installed and confirmed, Unix seconds.")
                .register(tlsRegistry);
        peers = Gauge.build(PREFIX + "peers", "Number of proxy peers being probed (self excluded).")
                .register(peerRegistry);
        peerUp = Gauge.build(
                        PREFIX + "peer_up",
                        "1 when the peer's last probe completed a TLS handshake (or was asked for a client certificate), else 0.")
                .labelNames("peer")
                .register(peerRegistry);
        peerConnect = Gauge.build(
                        PREFIX + "peer_connect_duration_seconds",
                        "TCP connect time of the peer's last successful connect.")
                .labelNames("peer")
                .register(peerRegistry);
        peerHandshake = Gauge.build(
                        PREFIX + "peer_tls_handshake_duration_seconds",
                        "TLS handshake time of the peer's last probe that reached the server's certificate.")
                .labelNames("peer")
                .register(peerRegistry);
        probeErrors = Counter.build(PREFIX + "peer_probe_errors_total", "Failed peer probes by reason.")
                .labelNames("reason")
                .register(peerRegistry);
        probeCycle = Gauge.build(
                        PREFIX + "peer_probe_cycle_duration_seconds",
                        "Wall time of the last probe cycle over all peers.")
                .register(peerRegistry);
        lastProbe = Gauge.build(
                        PREFIX + "peer_last_probe_cycle_timestamp_seconds",
                        "When the last probe cycle finished, Unix seconds.")
                .register(peerRegistry);
        peerListErrors = Counter.build(
                        PREFIX + "peer_list_refresh_errors_total",
                        "Failed peer list refreshes by source: inventory, file.")
                .labelNames("source")
                .register(peerRegistry);
        peerListLastRefresh = Gauge.build(
                        PREFIX + "peer_list_last_refresh_timestamp_seconds",
                        "When the peer list was last refreshed, Unix seconds.")
                .register(peerRegistry);
        for (String r : new String[] {"installed", "rejected", "rolled_back", "unconfirmed", "failed"}) {
            rotations.labels(r);
        }
        if (jvmMetrics) {
            // DefaultExports minus MemoryAllocationExports: its GC notification listeners pull in the JMX
            // notification machinery, about a megabyte of metaspace in a process meant to stay under 64 MiB.
            new StandardExports().register(registry);
            new MemoryPoolsExports().register(registry);
            new BufferPoolsExports().register(registry);
            new GarbageCollectorExports().register(registry);
            new ThreadExports().register(registry);
            new ClassLoadingExports().register(registry);
            new VersionInfoExports().register(registry);
        }
    }

    public CollectorRegistry registry() {
        return registry;
    }

    public void installedCert(Instant notBefore, Instant notAfter) {
        certNotBefore.set(notBefore.getEpochSecond());
        certNotAfter.set(notAfter.getEpochSecond());
    }

    public void rotation(String result) {
        rotations.labels(result).inc();
        if (result.equals("installed")) {
            tlsLastRotation.set(seconds(Instant.now()));
        }
    }

    public void rejection(String reason) {
        rejections.labels(reason).inc();
        rotations.labels("rejected").inc();
    }

    public void tlsChecked(Instant at) {
        tlsLastCheck.set(seconds(at));
    }

    /** Replaces the per-peer series so that departed peers stop being exported. */
    public synchronized void peerSet(Collection<String> current) {
        for (String gone : new HashSet<>(knownPeers)) {
            if (!current.contains(gone)) {
                peerUp.remove(gone);
                peerConnect.remove(gone);
                peerHandshake.remove(gone);
                knownPeers.remove(gone);
            }
        }
        knownPeers.addAll(current);
        peers.set(current.size());
    }

    /** Records one probe; a peer that is not in the current {@link #peerSet} gets no series. */
    public synchronized void peerResult(
            String peer, boolean up, Double connectSeconds, Double handshakeSeconds, String errorReason) {
        if (!knownPeers.contains(peer)) {
            return;
        }
        peerUp.labels(peer).set(up ? 1 : 0);
        if (connectSeconds != null) {
            peerConnect.labels(peer).set(connectSeconds);
        }
        if (handshakeSeconds != null) {
            peerHandshake.labels(peer).set(handshakeSeconds);
        }
        if (errorReason != null) {
            probeErrors.labels(errorReason).inc();
        }
    }

    public void probeCycle(double seconds, Instant finished) {
        probeCycle.set(seconds);
        lastProbe.set(seconds(finished));
    }

    public void peerListRefreshed(Instant at) {
        peerListLastRefresh.set(seconds(at));
    }

    public void peerListError(String source) {
        peerListErrors.labels(source).inc();
    }

    private static double seconds(Instant t) {
        return t.getEpochSecond() + t.getNano() / 1e9;
    }
}
