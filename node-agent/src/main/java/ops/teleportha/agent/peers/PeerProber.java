package ops.teleportha.agent.peers;

import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import ops.teleportha.agent.config.HostPort;
import ops.teleportha.agent.tls.AcceptAnyServer;

/**
 * Probes one peer: DNS, TCP connect, TLS handshake, all within one deadline. The server certificate is
 * not authenticated (it is signed by Teleport's host CA, which the agent does not hold): the probe shows
 * that a TLS server answers, not who it is.
 */
public final class PeerProber {
    private final Clock clock;

    public PeerProber(Clock clock) {
        this.clock = clock;
    }

    /** A probe in flight, so that the monitor can abandon it at the deadline. */
    public final class Probe {
        private final HostPort peer;
        private final long deadlineNanos;
        private volatile String stage = "dns";
        private volatile Socket socket;

        Probe(HostPort peer, Duration timeout) {
            this.peer = peer;
            this.deadlineNanos = System.nanoTime() + timeout.toNanos();
        }

        /** The result for a probe that has not finished by its deadline. */
        public ProbeResult abandon() {
            Socket s = socket;
            if (s != null) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // already closed
                }
            }
            ProbeOutcome o = switch (stage) {
                case "dns" -> ProbeOutcome.DNS_TIMEOUT;
                case "connect" -> ProbeOutcome.CONNECT_TIMEOUT;
                default -> ProbeOutcome.HANDSHAKE_TIMEOUT;
            };
            return new ProbeResult(peer.toString(), o, null, null, "no answer during " + stage + " within the probe timeout", clock.instant());
        }

        private int remainingMillis() throws SocketTimeoutException {
            long ms = (deadlineNanos - System.nanoTime()) / 1_000_000;
            if (ms <= 0) throw new SocketTimeoutException("probe timeout reached");
            return (int) Math.min(Integer.MAX_VALUE, ms);
        }

        public ProbeResult run() {
            Double connectSeconds = null;
            AtomicBoolean certRequested = new AtomicBoolean();
            long handshakeStart = 0;
            try {
                InetAddress address;
                try {
                    address = InetAddress.getByName(peer.host());
                } catch (UnknownHostException e) {
                    return result(ProbeOutcome.DNS_FAILURE, null, null, "cannot resolve " + peer.host());
                }
                stage = "connect";
                Socket plain = new Socket();
                socket = plain;
                long t0 = System.nanoTime();
                try {
                    plain.connect(new InetSocketAddress(address, peer.port()), remainingMillis());
                } catch (SocketTimeoutException e) {
                    return result(ProbeOutcome.CONNECT_TIMEOUT, null, null, "TCP connect to " + address.getHostAddress() + " timed out");
                } catch (NoRouteToHostException e) {
                    return result(ProbeOutcome.UNREACHABLE, null, null, e.getMessage());
                } catch (ConnectException e) {
                    String m = String.valueOf(e.getMessage());
                    ProbeOutcome o = m.contains("refused") ? ProbeOutcome.REFUSED
                            : m.contains("unreachable") ? ProbeOutcome.UNREACHABLE : ProbeOutcome.ERROR;
                    return result(o, null, null, m);
                }
                connectSeconds = (System.nanoTime() - t0) / 1e9;
                stage = "handshake";
                SSLContext ctx = AcceptAnyServer.context(() -> certRequested.set(true));
                try (SSLSocket tls = (SSLSocket) ctx.getSocketFactory().createSocket(plain, peer.host(), peer.port(), true)) {
                    socket = tls;
                    tls.setSoTimeout(remainingMillis());
                    if (!peer.host().matches("[0-9.]+|.*:.*")) {
                        SSLParameters p = tls.getSSLParameters();
                        p.setServerNames(List.of(new SNIHostName(peer.host())));
                        tls.setSSLParameters(p);
                    }
                    handshakeStart = System.nanoTime();
                    tls.startHandshake();
                    double hs = (System.nanoTime() - handshakeStart) / 1e9;
                    String proto = tls.getSession().getProtocol();
                    if (certRequested.get()) {
                        return result(ProbeOutcome.CLIENT_CERT_REQUIRED, connectSeconds, hs, proto + ", server asked for a client certificate");
                    }
                    return result(ProbeOutcome.TLS_HANDSHAKE_OK, connectSeconds, hs, proto);
                }
            } catch (SocketTimeoutException e) {
                return result(ProbeOutcome.HANDSHAKE_TIMEOUT, connectSeconds, null, "TLS handshake got no answer within the probe timeout");
            } catch (SSLException e) {
                String m = String.valueOf(e.getMessage());
                if (certRequested.get()) {
                    // The server presented its certificate and demanded ours: Teleport's peer service does exactly this.
                    double hs = (System.nanoTime() - handshakeStart) / 1e9;
                    return result(ProbeOutcome.CLIENT_CERT_REQUIRED, connectSeconds, hs, "server asked for a client certificate: " + m);
                }
                if (m.contains("Unsupported or unrecognized SSL message") || m.contains("plaintext")) {
                    return result(ProbeOutcome.NOT_TLS, connectSeconds, null, "the peer answered, but not with TLS");
                }
                if (e.getCause() instanceof EOFException || m.contains("terminated the handshake")) {
                    return result(ProbeOutcome.CONNECTION_CLOSED, connectSeconds, null, "the peer closed the connection during the TLS handshake");
                }
                return result(ProbeOutcome.TLS_FAILURE, connectSeconds, null, m);
            } catch (SocketException e) {
                if (certRequested.get()) {
                    double hs = (System.nanoTime() - handshakeStart) / 1e9;
                    return result(ProbeOutcome.CLIENT_CERT_REQUIRED, connectSeconds, hs, "server asked for a client certificate and closed: " + e.getMessage());
                }
                return result(ProbeOutcome.CONNECTION_CLOSED, connectSeconds, null, String.valueOf(e.getMessage()));
            } catch (IOException | GeneralSecurityException | RuntimeException e) {
                return result(ProbeOutcome.ERROR, connectSeconds, null, e.toString());
            } finally {
                Socket s = socket;
                if (s != null) {
                    try {
                        s.close();
                    } catch (IOException ignored) {
                        // best effort
                    }
                }
            }
        }

        private ProbeResult result(ProbeOutcome o, Double connect, Double handshake, String detail) {
            return new ProbeResult(peer.toString(), o, connect, handshake, detail, clock.instant());
        }
    }

    public Probe start(HostPort peer, Duration timeout) {
        return new Probe(peer, timeout);
    }
}
