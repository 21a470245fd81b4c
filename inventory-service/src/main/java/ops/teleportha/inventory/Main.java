package ops.teleportha.inventory;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import ops.teleportha.config.BuildVersion;
import ops.teleportha.config.ConfigException;
import ops.teleportha.config.ExitCode;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;
import ops.teleportha.inventory.discovery.AwsClients;
import ops.teleportha.inventory.discovery.Discovery;
import ops.teleportha.inventory.discovery.RegionDiscoverer;
import ops.teleportha.inventory.hostkeys.HostKeyStore;
import ops.teleportha.inventory.hostkeys.KnownHosts;
import ops.teleportha.inventory.http.BearerToken;
import ops.teleportha.inventory.http.InventoryServer;
import ops.teleportha.inventory.inventory.HostLookup;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import ops.teleportha.inventory.inventory.InventoryService;
import ops.teleportha.inventory.metrics.InventoryMetrics;
import ops.teleportha.inventory.tls.ServingCertificate;

/** {@code inventory-service (list|serve|check|known-hosts|host) --config FILE ...}: parses arguments, loads config, wires objects. */
public final class Main {
    static final String USAGE = """
            usage: inventory-service list  --config FILE   print the Ansible inventory JSON once
                   inventory-service serve --config FILE   serve it over HTTP(S), refreshed in the background
                   inventory-service check --config FILE   validate the config and exit; no AWS call
                   inventory-service known-hosts --config FILE HOST
                                                           print HOST's SSH host keys from its console output
                   inventory-service host --config FILE --instance-id ID
                                                           print one instance's name and host variables (as
                                                           /v1/hosts/{name}), discovering it alone: for the instance
                                                           itself at boot, before it is in service
                   inventory-service version               print the version (also --version)
            exit codes: 0 ok, 1 runtime failure (AWS, rendering, listening), 2 usage or config error""";

    /** How often serve.tls's files are checked for a new pair. */
    static final Duration TLS_POLL_INTERVAL = Duration.ofSeconds(5);

    private Main() {}

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("version"))) {
            System.out.println("inventory-service " + version());
            return ExitCode.OK;
        }
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help"))) {
            System.out.println(USAGE);
            return ExitCode.OK;
        }
        boolean knownHosts = args.length == 4 && args[0].equals("known-hosts");
        boolean host = args.length == 5 && args[0].equals("host") && args[3].equals("--instance-id");
        if ((args.length != 3 && !knownHosts && !host)
                || !(args[0].equals("list") || args[0].equals("serve") || args[0].equals("check") || knownHosts || host)
                || !args[1].equals("--config")) {
            System.err.println(USAGE);
            return ExitCode.INVALID;
        }
        String mode = args[0];
        // Before the first logger exists: list and check talk only through their exit code, stdout and errors.
        System.setProperty(
                "org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", mode.equals("serve") ? "info" : "warn"));
        InventoryConfig config;
        try {
            config = new ConfigLoader(System.getenv()).load(Path.of(args[2]));
        } catch (ConfigException e) {
            return configError(e);
        }
        return switch (mode) {
            case "check" -> {
                System.out.println(args[2] + ": ok");
                yield ExitCode.OK;
            }
            case "list" -> list(config);
            case "known-hosts" -> knownHosts(config, args[3]);
            case "host" -> host(config, args[4]);
            default -> serve(config);
        };
    }

    private static int configError(ConfigException e) {
        e.lines().forEach(line -> System.err.println("inventory-service: config error: " + line));
        return ExitCode.INVALID;
    }

    private static int list(InventoryConfig config) {
        try (AwsClients clients = new AwsClients(config);
                InventoryService service = new InventoryService(
                        config,
                        new Discovery(config, clients, Clock.systemUTC()),
                        new InventoryMetrics(version()),
                        Clock.systemUTC())) {
            InventoryService.Current c = service.refresh();
            if (c.inventory() == null) {
                System.err.println("inventory-service: " + c.error());
                return ExitCode.FAILURE;
            }
            System.out.write(c.inventory().inventoryJson(), 0, c.inventory().inventoryJson().length);
            System.out.write('\n');
            System.out.flush();
            return ExitCode.OK;
        } catch (RuntimeException e) {
            System.err.println("inventory-service: " + e.getMessage());
            return ExitCode.FAILURE;
        }
    }

    /**
     * {@code {"name": ..., "hostvars": {...}}} of one instance, its variables exactly as {@code /v1/hosts/{name}}
     * serves them: what teleport-ha-boot names the instance with before it is in service (docs/boot.md).
     */
    private static int host(InventoryConfig config, String instanceId) {
        if (!instanceId.matches("i-[0-9a-f]{8,17}")) {
            System.err.println(
                    "inventory-service: host: --instance-id " + instanceId + " is not an instance id (i-...)");
            return ExitCode.INVALID;
        }
        try (AwsClients clients = new AwsClients(config)) {
            HostLookup.Found found = new HostLookup(
                            config, new RegionDiscoverer(config, clients, Clock.systemUTC()), Clock.systemUTC())
                    .find(instanceId);
            ObjectNode out = InventoryBuilder.JSON.createObjectNode();
            out.put("name", found.name());
            out.set("hostvars", found.hostvars());
            System.out.println(InventoryBuilder.JSON.writeValueAsString(out));
            System.out.flush();
            return ExitCode.OK;
        } catch (RuntimeException | com.fasterxml.jackson.core.JsonProcessingException e) {
            System.err.println("inventory-service: host: " + e.getMessage());
            return ExitCode.FAILURE;
        }
    }

    /** One discovery, then the host's keys from its console: for SSH's KnownHostsCommand without serve. */
    private static int knownHosts(InventoryConfig config, String host) {
        try (AwsClients clients = new AwsClients(config);
                InventoryService service = new InventoryService(
                        config,
                        new Discovery(config, clients, Clock.systemUTC()),
                        new InventoryMetrics(version()),
                        Clock.systemUTC())) {
            InventoryService.Current c = service.refresh();
            if (c.inventory() == null) {
                System.err.println("inventory-service: " + c.error());
                return ExitCode.FAILURE;
            }
            KnownHosts.Answer a = new KnownHosts(new HostKeyStore(HostKeyStore.ec2(clients), Clock.systemUTC()))
                    .answer(c.inventory(), host);
            if (!a.found()) {
                System.err.println("inventory-service: known-hosts: " + a.problem());
                return ExitCode.FAILURE;
            }
            System.out.print(a.lines());
            System.out.flush();
            return ExitCode.OK;
        } catch (RuntimeException e) {
            System.err.println("inventory-service: " + e.getMessage());
            return ExitCode.FAILURE;
        }
    }

    private static int serve(InventoryConfig config) {
        // The config already refused a listener beyond loopback without TLS and a token; these read the files.
        Optional<BearerToken> token;
        Optional<ServingCertificate> tls;
        try {
            SecretFile rules = SecretFile.forThisProcess();
            token = config.serve().tokenFile().map(f -> new BearerToken(f, rules));
            tls = config.serve().tls().map(t -> new ServingCertificate(t, rules, Clock.systemUTC()));
        } catch (ConfigException e) {
            return configError(e);
        }
        AwsClients clients = new AwsClients(config);
        InventoryMetrics metrics = new InventoryMetrics(version()).withJvmMetrics();
        InventoryService service = new InventoryService(
                config, new Discovery(config, clients, Clock.systemUTC()), metrics, Clock.systemUTC());
        InventoryServer server = new InventoryServer(service::current, metrics, token, tls)
                .withKnownHosts(new KnownHosts(new HostKeyStore(HostKeyStore.ec2(clients), Clock.systemUTC())));
        try {
            server.start(config.serve().listenHost(), config.serve().listenPort());
        } catch (RuntimeException e) {
            System.err.println("inventory-service: cannot listen on "
                    + config.serve().listenHost() + ":" + config.serve().listenPort() + ": " + rootMessage(e));
            service.close();
            clients.close();
            return ExitCode.FAILURE;
        }
        tls.ifPresent(t -> t.watch(TLS_POLL_INTERVAL));
        service.startBackgroundRefresh();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            server.close();
                            tls.ifPresent(ServingCertificate::close);
                            service.close();
                            clients.close();
                            stopped.countDown();
                        },
                        "shutdown"));
        String host = config.serve().listenHost();
        System.err.println("inventory-service: serving cluster " + config.cluster() + " ("
                + String.join(", ", config.regions()) + ") on " + (tls.isPresent() ? "https" : "http") + "://"
                + (host.contains(":") ? "[" + host + "]" : host) + ":" + server.port());
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return ExitCode.OK;
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    static String version() {
        return BuildVersion.of(Main.class);
    }

    static {
        // The JVM's default stdout encoding follows the locale; inventory JSON is always UTF-8.
        System.setOut(new java.io.PrintStream(
                new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8));
    }
}
