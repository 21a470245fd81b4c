package ops.teleportha.agent.peers;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import ops.teleportha.agent.testing.Listeners;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TlsTestServer;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Probes against real listeners on loopback. */
class PeerProberTest {
    /** For probes that must time out. */
    static final Duration TIMEOUT = Duration.ofMillis(1500);
    /** For probes that must succeed: generous, because a cold JVM on a busy CI host is slow at its first handshake. */
    static final Duration GENEROUS = Duration.ofSeconds(15);

    static TestPki pki;
    static TlsTestServer.Pair serverPair;

    @BeforeAll
    static void pki() {
        pki = TestPki.create();
        TestPki.Issued host = pki.leaf(List.of("localhost"));
        serverPair = new TlsTestServer.Pair(
                List.of(host.cert(), pki.intermediate.cert()), host.keys().getPrivate());
    }

    private static ProbeResult probe(int port, Duration timeout) {
        return new PeerProber(Clock.systemUTC())
                .probeAll(List.of(new HostPort("127.0.0.1", port)), timeout)
                .get(0);
    }

    @Test
    void aTlsServerIsUpWithConnectAndHandshakeTimes() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, false)) {
            ProbeResult r = probe(server.port(), GENEROUS);
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.TLS_HANDSHAKE_OK);
            assertThat(r.up()).isTrue();
            assertThat(r.connectSeconds()).isPositive().isLessThan(GENEROUS.toSeconds());
            assertThat(r.handshakeSeconds()).isPositive();
        }
    }

    @Test
    void aServerDemandingAClientCertificateLikeTeleportsPeerPortIsUp() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, true)) {
            ProbeResult r = probe(server.port(), GENEROUS);
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.CLIENT_CERT_REQUIRED);
            assertThat(r.up()).isTrue();
            assertThat(r.handshakeSeconds()).isNotNull();
        }
    }

    @Test
    void aServerDemandingAClientCertificateIsSeenFromItsTls12FirstFlightWithoutAFullHandshake() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, true)) {
            ProbeResult r = probe(server.port(), GENEROUS);
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.CLIENT_CERT_REQUIRED);
            assertThat(r.detail()).isEqualTo("TLSv1.2, server asked for a client certificate");
        }
    }

    @Test
    void aTls13OnlyServerDemandingAClientCertificateIsUpThroughTheFullHandshake() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, true, "TLSv1.3")) {
            ProbeResult r = probe(server.port(), GENEROUS);
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.CLIENT_CERT_REQUIRED);
            assertThat(r.detail()).startsWith("TLSv1.3");
            assertThat(r.handshakeSeconds()).isPositive();
        }
    }

    @Test
    void aServerThatAsksForNoClientCertificateCompletesAFullHandshake() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, false, "TLSv1.2")) {
            ProbeResult r = probe(server.port(), GENEROUS);
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.TLS_HANDSHAKE_OK);
            assertThat(r.detail()).isEqualTo("TLSv1.2");
        }
    }

    @Test
    void resolvesNamesBesideTheSelectorAndSendsThemAsSni() throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> serverPair, false)) {
            ProbeResult r = new PeerProber(Clock.systemUTC())
                    .probeAll(List.of(new HostPort("localhost", server.port())), GENEROUS)
                    .get(0); // /etc/hosts, no DNS traffic
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.TLS_HANDSHAKE_OK);
            assertThat(r.peer()).isEqualTo("localhost:" + server.port());
        }
    }

    @Test
    void aClosedPortIsRefused() throws Exception {
        ProbeResult r = probe(Listeners.closedPort(), GENEROUS);
        assertThat(r.outcome()).isEqualTo(ProbeOutcome.REFUSED);
        assertThat(r.up()).isFalse();
        assertThat(r.connectSeconds()).isNull();
    }

    @Test
    void anOpenPortThatSpeaksPlainTextIsNotTls() throws Exception {
        try (ServerSocket server = Listeners.plainHttp()) {
            ProbeResult r = probe(server.getLocalPort(), GENEROUS);
            assertThat(r.outcome()).isIn(ProbeOutcome.NOT_TLS, ProbeOutcome.CONNECTION_CLOSED);
            assertThat(r.up()).isFalse();
            assertThat(r.connectSeconds()).isNotNull();
        }
    }

    @Test
    void aListenerThatAcceptsButNeverAnswersTimesOutWithinTheProbeTimeout() throws Exception {
        try (ServerSocket server = Listeners.silent()) {
            long start = System.nanoTime();
            ProbeResult r = probe(server.getLocalPort(), TIMEOUT);
            double elapsed = (System.nanoTime() - start) / 1e9;
            assertThat(r.outcome()).isEqualTo(ProbeOutcome.HANDSHAKE_TIMEOUT);
            assertThat(r.up()).isFalse();
            assertThat(r.connectSeconds()).as("TCP connect succeeded").isNotNull();
            assertThat(elapsed).isLessThan(TIMEOUT.toMillis() / 1000.0 * 1.1);
        }
    }
}
