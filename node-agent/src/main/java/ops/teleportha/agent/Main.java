package ops.teleportha.agent;

import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import ops.teleportha.agent.config.AgentConfig;
import ops.teleportha.config.ConfigException;
import ops.teleportha.agent.config.ConfigLoader;
import ops.teleportha.agent.http.AgentHttpServer;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.tls.TlsRotator;

/** {@code java -jar node-agent.jar --config FILE [--check]}: parse, load, wire, run until stopped. */
public final class Main {
    private static final Instant STARTED = Instant.now();

    private Main() {}

    public static void main(String[] args) {
        long startNanos = System.nanoTime();
        Path configFile = null;
        boolean checkOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--config", "-c" -> {
                    if (i + 1 >= args.length) die("--config needs a file");
                    configFile = Path.of(args[++i]);
                }
                case "--check" -> checkOnly = true;
                case "--version" -> {
                    System.out.println("node-agent " + version());
                    return;
                }
                case "--help", "-h" -> {
                    System.out.println("usage: java -jar node-agent.jar --config FILE [--check]\n"
                            + "  --check  validate the config file and exit (0 when valid)");
                    return;
                }
                default -> die("unknown argument '" + args[i] + "'; usage: java -jar node-agent.jar --config FILE [--check]");
            }
        }
        if (configFile == null) die("missing --config FILE; usage: java -jar node-agent.jar --config FILE [--check]");
        AgentConfig config;
        try {
            config = new ConfigLoader(true).load(configFile);
        } catch (ConfigException e) {
            e.lines().forEach(line -> System.err.println("node-agent: " + line));
            System.exit(2);
            return;
        }
        if (checkOnly) {
            System.out.println(configFile + ": ok");
            return;
        }
        try {
            run(config, startNanos);
        } catch (IOException e) {
            die("cannot start: " + e.getMessage());
        }
    }

    private static void run(AgentConfig config, long startNanos) throws IOException {
        AgentMetrics metrics = new AgentMetrics(CollectorRegistry.defaultRegistry, version(), true);
        TlsRotator rotator = config.tls().enabled() ? new TlsRotator(config.tls(), metrics, Clock.systemUTC()) : null;
        PeerMonitor monitor = config.peers().enabled() ? new PeerMonitor(config.peers(), metrics, Clock.systemUTC()) : null;
        AgentHttpServer http = new AgentHttpServer(config.listenAddr(), metrics, monitor == null ? null : monitor::status,
                () -> stalled(config, rotator, monitor, Instant.now()));
        if (rotator != null) rotator.start();
        if (monitor != null) monitor.start();
        http.start();
        Log.info("main", "node-agent " + version() + " listening on " + config.listenAddr().host() + ":" + http.port()
                + " (tls rotation " + (rotator != null ? "on" : "off") + ", peer probes " + (monitor != null ? "on" : "off")
                + "), started in " + (System.nanoTime() - startNanos) / 1_000_000 + " ms");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            http.close();
            if (monitor != null) monitor.close();
            if (rotator != null) rotator.close();
            stop.countDown();
        }, "shutdown"));
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * What /healthz reports as wrong: a loop that has not run for much longer than it should. The TLS check
     * may legitimately take a reload command plus the whole verify timeout.
     */
    static List<String> stalled(AgentConfig config, TlsRotator rotator, PeerMonitor monitor, Instant now) {
        List<String> problems = new ArrayList<>();
        if (rotator != null) {
            Duration allowed = config.tls().rescanInterval().multipliedBy(2).plus(config.tls().verify().timeout())
                    .plus(config.tls().reload().commandTimeout().multipliedBy(2)).plusSeconds(30);
            Instant last = rotator.lastCheck() == null ? STARTED : rotator.lastCheck();
            if (Duration.between(last, now).compareTo(allowed) > 0) {
                problems.add("tls: no check of " + config.tls().sourceDir() + " since " + last);
            }
        }
        if (monitor != null) {
            Duration allowed = config.peers().probeInterval().multipliedBy(3).plus(config.peers().probeTimeout()).plusSeconds(30);
            Instant last = monitor.status().checkedAt() == null ? STARTED : monitor.status().checkedAt();
            if (Duration.between(last, now).compareTo(allowed) > 0) {
                problems.add("peers: no probe cycle since " + last);
            }
        }
        return problems;
    }

    static String version() {
        try (InputStream in = Main.class.getResourceAsStream("build.properties")) {
            Properties p = new Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static void die(String message) {
        System.err.println("node-agent: " + message);
        System.exit(2);
    }
}
