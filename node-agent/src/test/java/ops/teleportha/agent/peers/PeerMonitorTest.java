package ops.teleportha.agent.peers;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import ops.teleportha.agent.config.PeersConfig;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.testing.Listeners;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TlsTestServer;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeerMonitorTest {
    @TempDir
    Path tmp;

    HttpServer inventory;
    volatile String inventoryBody = "{\"peers\":[]}";
    CollectorRegistry registry = new CollectorRegistry();

    @BeforeEach
    void inventory() throws Exception {
        inventory = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        inventory.createContext("/v1/peers", ex -> {
            boolean authorised = "Bearer s3cret".equals(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] body =
                    (authorised ? inventoryBody : "{\"error\":\"unauthorised\"}").getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(authorised ? 200 : 401, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        inventory.start();
    }

    @AfterEach
    void stop() {
        inventory.stop(0);
    }

    private PeerMonitor monitor(Path file) throws Exception {
        return monitor(file, Duration.ofSeconds(5));
    }

    private PeerMonitor monitor(Path file, Duration probeTimeout) throws Exception {
        Path token = Files.writeString(tmp.resolve("token"), "s3cret\n");
        URI url = URI.create("http://127.0.0.1:" + inventory.getAddress().getPort() + "/v1/peers");
        PeersConfig config = new PeersConfig(
                true,
                new HostPort("self.internal", 3021),
                url,
                token,
                null,
                false,
                file,
                Duration.ofMinutes(1),
                Duration.ofSeconds(15),
                probeTimeout);
        return new PeerMonitor(config, new AgentMetrics(registry, "test", false), Clock.systemUTC());
    }

    private Double up(String peer) {
        return registry.getSampleValue("teleport_node_agent_peer_up", new String[] {"peer"}, new String[] {peer});
    }

    @Test
    void mergesInventoryAndFileExcludesSelfAndClassifiesEachPeer() throws Exception {
        TestPki pki = TestPki.create();
        TestPki.Issued host = pki.leaf(List.of("localhost"));
        try (TlsTestServer tls = new TlsTestServer(
                        () -> new TlsTestServer.Pair(
                                List.of(host.cert()), host.keys().getPrivate()),
                        true);
                ServerSocket silent = Listeners.silent()) {
            int closed = Listeners.closedPort();
            inventoryBody =
                    "{\"cluster\":\"c\",\"generated_at\":\"2026-01-01T00:00:00Z\",\"stale_regions\":[],\"peers\":["
                            + "{\"addr\":\"127.0.0.1:" + tls.port()
                            + "\",\"host\":\"a\",\"instance_id\":\"i-1\",\"region\":\"r\",\"asg\":\"g\"},"
                            + "{\"addr\":\"self.internal:3021\",\"host\":\"me\"}]}";
            Path file = Files.writeString(
                    tmp.resolve("peers.txt"),
                    "# from Ansible\n127.0.0.1:" + silent.getLocalPort() + "\n127.0.0.1:" + closed
                            + "  # down\n\nnot-a-peer\n127.0.0.1:" + tls.port() + "\n");
            try (PeerMonitor monitor = monitor(file)) {
                PeerMonitor.Status status = monitor.refreshAndProbe();

                Map<String, ProbeOutcome> outcomes =
                        status.peers().stream().collect(Collectors.toMap(ProbeResult::peer, ProbeResult::outcome));
                assertThat(outcomes)
                        .containsOnly(
                                Map.entry("127.0.0.1:" + tls.port(), ProbeOutcome.CLIENT_CERT_REQUIRED),
                                Map.entry("127.0.0.1:" + silent.getLocalPort(), ProbeOutcome.HANDSHAKE_TIMEOUT),
                                Map.entry("127.0.0.1:" + closed, ProbeOutcome.REFUSED));
                assertThat(status.cycleSeconds())
                        .as("the silent peer waits out the timeout, no longer")
                        .isBetween(5.0, 6.0);
                assertThat(registry.getSampleValue("teleport_node_agent_peers")).isEqualTo(3.0);
                assertThat(up("127.0.0.1:" + tls.port())).isEqualTo(1.0);
                assertThat(up("127.0.0.1:" + closed)).isEqualTo(0.0);
                assertThat(registry.getSampleValue(
                                "teleport_node_agent_peer_probe_errors_total",
                                new String[] {"reason"},
                                new String[] {"refused"}))
                        .isEqualTo(1.0);

                // A peer that leaves the list stops being exported.
                Files.writeString(file, "127.0.0.1:" + closed + "\n");
                inventoryBody = "{\"peers\":[]}";
                monitor.refreshAndProbe();
                assertThat(up("127.0.0.1:" + tls.port())).isNull();
                assertThat(registry.getSampleValue("teleport_node_agent_peers")).isEqualTo(1.0);
            }
        }
    }

    @Test
    void keepsTheLastInventoryListWhenTheInventoryFails() throws Exception {
        inventoryBody = "{\"peers\":[{\"addr\":\"127.0.0.1:" + Listeners.closedPort() + "\"}]}";
        try (PeerMonitor monitor = monitor(null)) {
            assertThat(monitor.refreshAndProbe().peers()).hasSize(1);
            inventoryBody = "not json {";
            assertThat(monitor.refreshAndProbe().peers()).hasSize(1);
            assertThat(registry.getSampleValue(
                            "teleport_node_agent_peer_list_refresh_errors_total",
                            new String[] {"source"},
                            new String[] {"inventory"}))
                    .isEqualTo(1.0);
        }
    }

    @Test
    void aPeerRemovedWhileItsProbeIsRunningLeavesNoSeriesOrStatusBehind() throws Exception {
        List<Socket> held = new CopyOnWriteArrayList<>();
        CountDownLatch connected = new CountDownLatch(1);
        try (ServerSocket hanging = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            // Accepts, says when the probe got through TCP, then never answers: the probe waits out its timeout.
            Thread acceptor = new Thread(
                    () -> {
                        try {
                            held.add(hanging.accept());
                            connected.countDown();
                        } catch (IOException e) {
                            // closed at the end of the test
                        }
                    },
                    "hanging-peer");
            acceptor.setDaemon(true);
            acceptor.start();
            String leaving = "127.0.0.1:" + hanging.getLocalPort();
            String staying = "127.0.0.1:" + Listeners.closedPort();
            Path file = Files.writeString(tmp.resolve("peers.txt"), leaving + "\n" + staying + "\n");
            try (PeerMonitor monitor = monitor(file, Duration.ofSeconds(2))) {
                monitor.refreshPeers();
                CompletableFuture<PeerMonitor.Status> cycle = CompletableFuture.supplyAsync(monitor::cycle);
                assertThat(connected.await(10, TimeUnit.SECONDS))
                        .as("the probe reached the hanging peer")
                        .isTrue();

                Files.writeString(file, staying + "\n");
                monitor.refreshPeers();
                PeerMonitor.Status status = cycle.get(30, TimeUnit.SECONDS);

                assertThat(status.peers()).extracting(ProbeResult::peer).containsExactly(staying);
                assertThat(monitor.status().peers())
                        .extracting(ProbeResult::peer)
                        .containsExactly(staying);
                assertThat(up(leaving))
                        .as("no series for a peer that left during the cycle")
                        .isNull();
                assertThat(up(staying)).isEqualTo(0.0);
                assertThat(registry.getSampleValue(
                                "teleport_node_agent_peer_probe_errors_total",
                                new String[] {"reason"},
                                new String[] {"handshake_timeout"}))
                        .isNull();
                assertThat(registry.getSampleValue("teleport_node_agent_peers")).isEqualTo(1.0);
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }
}
