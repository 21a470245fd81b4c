package ops.teleportha.agent;

import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import ops.teleportha.agent.config.AgentConfig;
import ops.teleportha.agent.config.ConfigLoader;
import ops.teleportha.agent.http.AgentHttpServer;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.peers.PeerMonitor;
import ops.teleportha.agent.tls.TlsRotator;
import ops.teleportha.agent.tls.ValidateCommand;
import ops.teleportha.config.BuildVersion;
import ops.teleportha.config.ConfigException;
import ops.teleportha.config.ExitCode;

/**
 * {@code java -jar node-agent.jar [run] --config FILE}, {@code check --config FILE} (or {@code --config FILE --check}),
 * {@code validate --cert FILE --key FILE ...}, {@code version}: parses arguments, loads config, wires objects and
 * runs until stopped.
 */
public final class Main {
    private static final Instant STARTED = Instant.now();
    static final String USAGE = """
            usage: java -jar node-agent.jar [run] --config FILE   run the agent
                   java -jar node-agent.jar check --config FILE   validate the config and exit (also: --config FILE --check)
                   java -jar node-agent.jar validate --cert FILE --key FILE [--names a,b,...] [--trust-bundle FILE]
                                            [--min-validity DURATION] [--json]
                                                                  check a certificate pair as the rotator does; no config
                   java -jar node-agent.jar version               print the version (also --version)
            exit codes: 0 ok (valid), 1 runtime failure, 2 usage or config error (invalid)""";

    private Main() {}

    public static void main(String[] args) {
        long startNanos = System.nanoTime();
        int code = run(args, startNanos);
        if (code != ExitCode.OK) {
            System.exit(code);
        }
    }

    /** @return the exit code; returns only after the agent stopped when it runs */
    static int run(String[] args, long startNanos) {
        List<String> rest = new ArrayList<>(List.of(args));
        String command = rest.isEmpty() || rest.get(0).startsWith("-") ? "run" : rest.remove(0);
        switch (command) {
            case "version":
                return version(rest);
            case "help":
                System.out.println(USAGE);
                return ExitCode.OK;
            case "validate":
                return ValidateCommand.run(rest, System.out, System.err, Clock.systemUTC());
            case "run", "check":
                break;
            default:
                return usage("unknown command '" + command + "'");
        }
        Path configFile = null;
        boolean checkOnly = command.equals("check");
        for (int i = 0; i < rest.size(); i++) {
            switch (rest.get(i)) {
                case "--config", "-c" -> {
                    if (i + 1 >= rest.size()) {
                        return usage("--config needs a file");
                    }
                    configFile = Path.of(rest.get(++i));
                }
                case "--check" -> checkOnly = true;
                case "--version" -> {
                    return version(List.of());
                }
                case "--help", "-h" -> {
                    System.out.println(USAGE);
                    return ExitCode.OK;
                }
                default -> {
                    return usage("unknown argument '" + rest.get(i) + "'");
                }
            }
        }
        if (configFile == null) {
            return usage("missing --config FILE");
        }
        AgentConfig config;
        try {
            config = new ConfigLoader(true).load(configFile);
        } catch (ConfigException e) {
            e.lines().forEach(line -> System.err.println("node-agent: " + line));
            return ExitCode.INVALID;
        }
        if (checkOnly) {
            System.out.println(configFile + ": ok");
            return ExitCode.OK;
        }
        try {
            run(config, startNanos);
            return ExitCode.OK;
        } catch (IOException e) {
            System.err.println("node-agent: cannot start: " + e.getMessage());
            return ExitCode.FAILURE;
        }
    }

    private static int version(List<String> extra) {
        if (!extra.isEmpty()) {
            return usage("version takes no arguments");
        }
        System.out.println("node-agent " + version());
        return ExitCode.OK;
    }

    private static int usage(String problem) {
        System.err.println("node-agent: " + problem);
        System.err.println(USAGE);
        return ExitCode.INVALID;
    }

    private static void run(AgentConfig config, long startNanos) throws IOException {
        AgentMetrics metrics = new AgentMetrics(
                CollectorRegistry.defaultRegistry,
                version(),
                true,
                config.tls().enabled(),
                config.peers().enabled());
        TlsRotator rotator = config.tls().enabled() ? new TlsRotator(config.tls(), metrics, Clock.systemUTC()) : null;
        PeerMonitor monitor =
                config.peers().enabled() ? new PeerMonitor(config.peers(), metrics, Clock.systemUTC()) : null;
        AgentHttpServer http = new AgentHttpServer(
                config.listenAddr(),
                metrics,
                monitor == null ? null : monitor::status,
                rotator == null ? null : rotator::status,
                () -> stalled(config, rotator, monitor, Instant.now()));
        if (rotator != null) {
            rotator.start();
        }
        if (monitor != null) {
            monitor.start();
        }
        http.start();
        Log.info(
                "main",
                "node-agent " + version() + " listening on "
                        + config.listenAddr().host() + ":" + http.port()
                        + " (tls rotation " + (rotator != null ? "on" : "off") + ", peer probes "
                        + (monitor != null ? "on" : "off")
                        + "), started in " + (System.nanoTime() - startNanos) / 1_000_000 + " ms");
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            http.close();
                            if (monitor != null) {
                                monitor.close();
                            }
                            if (rotator != null) {
                                rotator.close();
                            }
                            stop.countDown();
                        },
                        "shutdown"));
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
            Duration allowed = config.tls()
                    .rescanInterval()
                    .multipliedBy(2)
                    .plus(config.tls().verify().timeout())
                    .plus(config.tls().reload().commandTimeout().multipliedBy(2))
                    .plusSeconds(30);
            Instant last = rotator.lastCheck() == null ? STARTED : rotator.lastCheck();
            if (Duration.between(last, now).compareTo(allowed) > 0) {
                problems.add("tls: no check of " + config.tls().sourceDir() + " since " + last);
            }
        }
        if (monitor != null) {
            Duration allowed = config.peers()
                    .probeInterval()
                    .multipliedBy(3)
                    .plus(config.peers().probeTimeout())
                    .plusSeconds(30);
            Instant last = monitor.status().checkedAt() == null
                    ? STARTED
                    : monitor.status().checkedAt();
            if (Duration.between(last, now).compareTo(allowed) > 0) {
                problems.add("peers: no probe cycle since " + last);
            }
        }
        return problems;
    }

    static String version() {
        return BuildVersion.of(Main.class);
    }
}
