package ops.teleportha.agent.peers;

import java.time.Clock;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import ops.teleportha.agent.Log;
import ops.teleportha.agent.Threads;
import ops.teleportha.agent.config.PeersConfig;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.config.HostPort;

/** Refreshes the peer list and probes every peer concurrently each interval. */
public final class PeerMonitor implements AutoCloseable {
    /** The latest cycle, as served on {@code /v1/peers/status}. */
    public record Status(List<ProbeResult> peers, Instant checkedAt, double cycleSeconds) {
        public Status {
            peers = List.copyOf(peers);
        }

        Status onlyFor(Set<String> known) {
            return new Status(
                    peers.stream().filter(r -> known.contains(r.peer())).toList(), checkedAt, cycleSeconds);
        }
    }

    private final PeersConfig config;
    private final PeerSource source;
    private final PeerProber prober;
    private final AgentMetrics metrics;
    private final Clock clock;
    private final ScheduledExecutorService scheduler;
    private volatile List<HostPort> peers = List.of();
    private volatile Status status = new Status(List.of(), null, 0);
    /** Orders a peer list change against the end of a cycle, so results for departed peers never land. */
    private final Object lock = new Object();

    public PeerMonitor(PeersConfig config, AgentMetrics metrics, Clock clock) {
        this.config = config;
        this.metrics = metrics;
        this.clock = clock;
        this.source = new PeerSource(config, metrics);
        this.prober = new PeerProber(clock);
        this.scheduler = Executors.newScheduledThreadPool(2, Threads.daemon("peer-monitor"));
    }

    public void start() {
        refreshPeers();
        scheduler.scheduleWithFixedDelay(
                this::refreshPeers,
                config.refreshInterval().toMillis(),
                config.refreshInterval().toMillis(),
                TimeUnit.MILLISECONDS);
        scheduler.scheduleAtFixedRate(
                this::cycleLogged, 0, config.probeInterval().toMillis(), TimeUnit.MILLISECONDS);
    }

    void refreshPeers() {
        try {
            List<HostPort> fresh = source.refresh();
            Set<String> names = names(fresh);
            synchronized (lock) {
                if (!fresh.equals(peers)) {
                    Log.info("peers", "peer list: " + fresh.size() + " peers");
                }
                peers = fresh;
                metrics.peerSet(names);
                status = status.onlyFor(names);
            }
            metrics.peerListRefreshed(clock.instant());
        } catch (RuntimeException e) {
            Log.error("peers", "peer list refresh failed: " + e);
        }
    }

    private void cycleLogged() {
        try {
            cycle();
        } catch (RuntimeException e) {
            Log.error("peers", "probe cycle failed: " + e);
        }
    }

    /**
     * Probes every current peer once, concurrently; returns within the probe timeout. Results for peers that
     * left the list while the cycle ran are dropped, so that a departed peer's series and status entry are
     * not brought back.
     */
    public Status cycle() {
        List<HostPort> current = peers;
        long start = System.nanoTime();
        List<ProbeResult> results = prober.probeAll(current, config.probeTimeout());
        double seconds = (System.nanoTime() - start) / 1e9;
        Instant now = clock.instant();
        synchronized (lock) {
            Set<String> known = names(peers);
            List<ProbeResult> kept =
                    results.stream().filter(r -> known.contains(r.peer())).toList();
            for (ProbeResult r : kept) {
                metrics.peerResult(
                        r.peer(),
                        r.up(),
                        r.connectSeconds(),
                        r.handshakeSeconds(),
                        r.up() ? null : r.outcome().label());
            }
            metrics.probeCycle(seconds, now);
            status = new Status(kept, now, seconds);
            return status;
        }
    }

    /** For tests and the bench: probe now with the list just read. */
    public Status refreshAndProbe() {
        refreshPeers();
        return cycle();
    }

    private static Set<String> names(List<HostPort> peers) {
        Set<String> names = new HashSet<>();
        peers.forEach(p -> names.add(p.toString()));
        return names;
    }

    public Status status() {
        return status;
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
