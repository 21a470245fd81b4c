package ops.teleportha.agent.peers;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import ops.teleportha.agent.Threads;
import ops.teleportha.agent.tls.AcceptAnyServer;
import ops.teleportha.config.HostPort;

/**
 * Probes all peers at once from one thread: non-blocking TCP connects and TLS handshakes on a selector,
 * all within one deadline. One thread instead of one per peer keeps the agent small (each Java thread
 * costs ~100 KiB of native memory) and the cycle bounded by the timeout.
 *
 * <p>Each handshake starts as a {@link Tls12FirstFlight}: a TLS 1.2 hello whose answer, from a server
 * that asks for a client certificate as Teleport's peer port does, is read without any cryptography.
 * Any other answer closes that connection and the peer gets a full handshake driven by an
 * {@link SSLEngine} on a new one, which classifies it as the only handshake did before.
 *
 * <p>The server certificate is not authenticated (it is signed by Teleport's host CA, which the agent
 * does not hold): the probe shows that a TLS server answers, not who it is.
 */
public final class PeerProber {
    private static final Pattern IP_LITERAL = Pattern.compile("[0-9.]+|.*:.*");

    private final Clock clock;
    private final Set<Object> askedForClientCert = ConcurrentHashMap.newKeySet();
    /** Made on the first full handshake: most cycles need none, and JSSE's classes cost metaspace. */
    private SSLContext tlsContext;

    private final ThreadPoolExecutor dns;
    private final Set<String> lookingUp = ConcurrentHashMap.newKeySet();
    /** Discarded application data: the probe never reads any, but unwrap needs somewhere to put it. */
    private ByteBuffer sink = ByteBuffer.allocate(0);
    /** Where first-flight bytes land before the parser copies them; one for all probes (one thread). */
    private final ByteBuffer readBuffer = ByteBuffer.allocate(16 * 1024);

    public PeerProber(Clock clock) {
        this.clock = clock;
        // InetAddress has no timeout; lookups run beside the selector so one slow name does not hold up the rest.
        dns = new ThreadPoolExecutor(
                4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), Threads.daemon("peer-dns"));
        dns.allowCoreThreadTimeOut(true);
    }

    private enum Stage {
        DNS,
        CONNECT,
        HANDSHAKE,
        DONE
    }

    private final class Probe {
        final HostPort peer;
        Stage stage = Stage.DNS;
        SocketChannel channel;
        InetAddress address;
        /** Non-null while the TLS 1.2 first look runs; null once the full handshake has taken over. */
        Tls12FirstFlight firstLook;

        boolean fullHandshake;
        SSLEngine engine;
        ByteBuffer netIn;
        ByteBuffer netOut;
        long connectStart;
        Double connectSeconds;
        long handshakeStart;
        ProbeResult result;

        Probe(HostPort peer) {
            this.peer = peer;
        }

        void finish(ProbeOutcome o, Double handshakeSeconds, String detail) {
            if (stage == Stage.DONE) {
                return;
            }
            stage = Stage.DONE;
            result = new ProbeResult(peer.toString(), o, connectSeconds, handshakeSeconds, detail, clock.instant());
            if (engine != null) {
                askedForClientCert.remove(engine);
            }
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }

        boolean certRequested() {
            return engine != null && askedForClientCert.contains(engine);
        }

        double handshakeSeconds() {
            return (System.nanoTime() - handshakeStart) / 1e9;
        }
    }

    private record Resolved(Probe probe, InetAddress address, String error) {}

    /** Probes every peer concurrently; returns one result per peer, in order, within {@code timeout} (plus a few ms). */
    public List<ProbeResult> probeAll(List<HostPort> peers, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Probe> probes = new ArrayList<>();
        ConcurrentLinkedQueue<Resolved> resolved = new ConcurrentLinkedQueue<>();
        try (Selector selector = Selector.open()) {
            for (HostPort p : peers) {
                Probe probe = new Probe(p);
                probes.add(probe);
                if (IP_LITERAL.matcher(p.host()).matches()) {
                    resolved.add(lookup(probe));
                } else if (lookingUp.add(p.host())) {
                    dns.execute(() -> {
                        try {
                            resolved.add(lookup(probe));
                            selector.wakeup();
                        } finally {
                            lookingUp.remove(p.host());
                        }
                    });
                }
                // else: a lookup of this name from an earlier cycle is still hanging; this probe ends as dns_timeout
                // rather than queueing another lookup behind it.
            }
            int open = probes.size();
            while (open > 0) {
                Resolved r;
                while ((r = resolved.poll()) != null) {
                    if (r.probe().stage != Stage.DNS) {
                        continue;
                    }
                    if (r.address() == null) {
                        r.probe().finish(ProbeOutcome.DNS_FAILURE, null, r.error());
                    } else {
                        connect(r.probe(), r.address(), selector);
                    }
                }
                open = (int) probes.stream().filter(p -> p.stage != Stage.DONE).count();
                long waitMillis = (deadline - System.nanoTime()) / 1_000_000;
                if (open == 0 || waitMillis <= 0) {
                    break;
                }
                selector.select(waitMillis);
                for (SelectionKey key : selector.selectedKeys()) {
                    if (System.nanoTime() - deadline > 0) {
                        break; // CPU-starved: do not run handshakes past the deadline
                    }
                    Probe probe = (Probe) key.attachment();
                    if (!key.isValid()) {
                        continue;
                    }
                    if (probe.stage == Stage.CONNECT && key.isConnectable()) {
                        finishConnect(probe, key);
                    } else if (probe.stage == Stage.HANDSHAKE && probe.firstLook != null) {
                        firstLook(probe, key);
                    } else if (probe.stage == Stage.HANDSHAKE) {
                        drive(probe, key);
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            for (Probe p : probes) {
                p.finish(ProbeOutcome.ERROR, null, "selector failed: " + e.getMessage());
            }
        }
        List<ProbeResult> results = new ArrayList<>(probes.size());
        for (Probe p : probes) {
            switch (p.stage) {
                case DNS ->
                    p.finish(ProbeOutcome.DNS_TIMEOUT, null, "name lookup did not finish within the probe timeout");
                case CONNECT ->
                    p.finish(ProbeOutcome.CONNECT_TIMEOUT, null, "TCP connect got no answer within the probe timeout");
                case HANDSHAKE ->
                    p.finish(
                            ProbeOutcome.HANDSHAKE_TIMEOUT,
                            null,
                            "TLS handshake got no answer within the probe timeout");
                case DONE -> {}
            }
            results.add(p.result);
        }
        return results;
    }

    private static Resolved lookup(Probe probe) {
        try {
            return new Resolved(probe, InetAddress.getByName(probe.peer.host()), null);
        } catch (UnknownHostException e) {
            return new Resolved(probe, null, "cannot resolve " + probe.peer.host());
        }
    }

    private void connect(Probe probe, InetAddress address, Selector selector) {
        probe.stage = Stage.CONNECT;
        probe.address = address;
        try {
            probe.channel = SocketChannel.open();
            probe.channel.configureBlocking(false);
            probe.connectStart = System.nanoTime();
            SelectionKey key = probe.channel.register(selector, SelectionKey.OP_CONNECT, probe);
            if (probe.channel.connect(new InetSocketAddress(address, probe.peer.port()))) {
                finishConnect(probe, key);
            }
        } catch (IOException e) {
            connectFailed(probe, e);
        }
    }

    private void finishConnect(Probe probe, SelectionKey key) {
        try {
            if (!probe.channel.finishConnect()) {
                return;
            }
        } catch (IOException e) {
            connectFailed(probe, e);
            return;
        }
        if (probe.connectSeconds == null) { // the first connect's time, also when a full handshake follows
            probe.connectSeconds = (System.nanoTime() - probe.connectStart) / 1e9;
        }
        probe.stage = Stage.HANDSHAKE;
        if (!probe.fullHandshake) {
            probe.firstLook = new Tls12FirstFlight();
            probe.netOut = Tls12FirstFlight.clientHello(sniName(probe.peer.host()));
            probe.handshakeStart = System.nanoTime();
            firstLook(probe, key);
            return;
        }
        SSLEngine engine = tlsContext().createSSLEngine(probe.peer.host(), probe.peer.port());
        engine.setUseClientMode(true);
        if (sniName(probe.peer.host()) != null) {
            SSLParameters params = engine.getSSLParameters();
            params.setServerNames(List.of(new SNIHostName(probe.peer.host())));
            engine.setSSLParameters(params);
        }
        probe.engine = engine;
        int packet = engine.getSession().getPacketBufferSize();
        probe.netIn = ByteBuffer.allocate(packet);
        probe.netOut = ByteBuffer.allocate(packet);
        probe.netOut.flip(); // empty, in read mode
        probe.handshakeStart = System.nanoTime();
        try {
            engine.beginHandshake();
        } catch (SSLException e) {
            tlsFailed(probe, e);
            return;
        }
        drive(probe, key);
    }

    private SSLContext tlsContext() {
        if (tlsContext == null) {
            try {
                tlsContext = AcceptAnyServer.context(askedForClientCert::add);
                tlsContext.getClientSessionContext().setSessionCacheSize(1024);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("no TLS client in this JVM", e);
            }
        }
        return tlsContext;
    }

    private static String sniName(String host) {
        return IP_LITERAL.matcher(host).matches() ? null : host;
    }

    /** Sends the TLS 1.2 hello and reads the server's first flight as far as the bytes available allow. */
    private void firstLook(Probe probe, SelectionKey key) {
        try {
            if (probe.netOut.hasRemaining()) {
                probe.channel.write(probe.netOut);
                if (probe.netOut.hasRemaining()) {
                    key.interestOps(SelectionKey.OP_WRITE);
                    return;
                }
            }
            while (true) {
                readBuffer.clear();
                int n = probe.channel.read(readBuffer);
                if (n == 0) {
                    key.interestOps(SelectionKey.OP_READ);
                    return;
                }
                if (n < 0) {
                    fullHandshake(probe, key);
                    return;
                }
                switch (probe.firstLook.feed(readBuffer.flip())) {
                    case MORE -> {}
                    case CLIENT_CERT_REQUESTED -> {
                        probe.finish(
                                ProbeOutcome.CLIENT_CERT_REQUIRED,
                                probe.handshakeSeconds(),
                                "TLSv1.2, server asked for a client certificate");
                        return;
                    }
                    case FULL_HANDSHAKE -> {
                        fullHandshake(probe, key);
                        return;
                    }
                }
            }
        } catch (IOException e) {
            // A reset, for instance: whether that is how this peer treats any hello, the full handshake says.
            fullHandshake(probe, key);
        }
    }

    /** Leaves the peer to the full JSSE handshake, on a new connection within the same deadline. */
    private void fullHandshake(Probe probe, SelectionKey key) {
        probe.firstLook = null;
        probe.fullHandshake = true;
        Selector selector = key.selector();
        key.cancel();
        try {
            probe.channel.close();
        } catch (IOException ignored) {
            // a new connection follows either way
        }
        connect(probe, probe.address, selector);
    }

    private static void connectFailed(Probe probe, IOException e) {
        String m = String.valueOf(e.getMessage());
        ProbeOutcome o = e instanceof NoRouteToHostException || m.contains("unreachable")
                ? ProbeOutcome.UNREACHABLE
                : e instanceof ConnectException && m.contains("refused") ? ProbeOutcome.REFUSED : ProbeOutcome.ERROR;
        probe.finish(o, null, m);
    }

    /** Runs the handshake as far as the bytes available allow, then waits for the socket. */
    private void drive(Probe probe, SelectionKey key) {
        SSLEngine engine = probe.engine;
        try {
            while (true) {
                if (probe.netOut.hasRemaining()) {
                    probe.channel.write(probe.netOut);
                    if (probe.netOut.hasRemaining()) {
                        key.interestOps(SelectionKey.OP_WRITE);
                        return;
                    }
                }
                SSLEngineResult.HandshakeStatus hs = engine.getHandshakeStatus();
                switch (hs) {
                    case NEED_TASK -> {
                        Runnable task;
                        while ((task = engine.getDelegatedTask()) != null) {
                            task.run();
                        }
                    }
                    case NEED_WRAP -> {
                        probe.netOut.compact();
                        SSLEngineResult r = engine.wrap(ByteBuffer.allocate(0), probe.netOut);
                        probe.netOut.flip();
                        if (r.getStatus() == SSLEngineResult.Status.CLOSED && !probe.netOut.hasRemaining()) {
                            closedDuringHandshake(probe, "the TLS engine closed during the handshake");
                            return;
                        }
                    }
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        probe.netIn.flip();
                        SSLEngineResult r = engine.unwrap(probe.netIn, sink);
                        probe.netIn.compact();
                        switch (r.getStatus()) {
                            case BUFFER_OVERFLOW ->
                                sink = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
                            case BUFFER_UNDERFLOW -> {
                                int n = probe.channel.read(probe.netIn);
                                if (n < 0) {
                                    closedDuringHandshake(
                                            probe, "the peer closed the connection during the TLS handshake");
                                    return;
                                }
                                if (n == 0) {
                                    key.interestOps(SelectionKey.OP_READ);
                                    return;
                                }
                            }
                            case CLOSED -> {
                                closedDuringHandshake(probe, "the peer closed TLS during the handshake");
                                return;
                            }
                            case OK -> {}
                        }
                        sink.clear();
                    }
                    case FINISHED, NOT_HANDSHAKING -> {
                        String proto = engine.getSession().getProtocol();
                        if (probe.certRequested()) {
                            probe.finish(
                                    ProbeOutcome.CLIENT_CERT_REQUIRED,
                                    probe.handshakeSeconds(),
                                    proto + ", server asked for a client certificate");
                        } else {
                            probe.finish(ProbeOutcome.TLS_HANDSHAKE_OK, probe.handshakeSeconds(), proto);
                        }
                        return;
                    }
                }
            }
        } catch (SSLException e) {
            tlsFailed(probe, e);
        } catch (IOException e) {
            closedDuringHandshake(probe, String.valueOf(e.getMessage()));
        }
    }

    private static void closedDuringHandshake(Probe probe, String detail) {
        if (probe.certRequested()) {
            // The server presented its certificate and demanded ours: Teleport's peer service does exactly this.
            probe.finish(
                    ProbeOutcome.CLIENT_CERT_REQUIRED,
                    probe.handshakeSeconds(),
                    "server asked for a client certificate, then: " + detail);
        } else {
            probe.finish(ProbeOutcome.CONNECTION_CLOSED, null, detail);
        }
    }

    private static void tlsFailed(Probe probe, SSLException e) {
        String m = String.valueOf(e.getMessage());
        if (probe.certRequested()) {
            probe.finish(
                    ProbeOutcome.CLIENT_CERT_REQUIRED,
                    probe.handshakeSeconds(),
                    "server asked for a client certificate: " + m);
        } else if (m.contains("Unsupported or unrecognized SSL message") || m.contains("plaintext")) {
            probe.finish(ProbeOutcome.NOT_TLS, null, "the peer answered, but not with TLS");
        } else {
            probe.finish(ProbeOutcome.TLS_FAILURE, null, m);
        }
    }
}
