package ops.teleportha.inventory.hostkeys;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import ops.teleportha.inventory.discovery.AwsClients;

/**
 * The SSH host keys of the cluster's instances, fetched from EC2 when someone asks for a host (an SSH
 * connection's {@code KnownHostsCommand}), never during discovery: most refreshes connect to nobody, and a fleet
 * of thousands must not cost thousands of {@code GetConsoleOutput} calls a minute.
 *
 * <p>Keys found are kept for the instance's life (cloud-init makes them once per instance); a console that has no
 * keys yet is asked again at most every {@link #RETRY}.
 */
public final class HostKeyStore {
    static final Duration RETRY = Duration.ofSeconds(10);

    /** Reads an instance's console output as text. */
    public interface Console {
        String read(String region, String instanceId);
    }

    private record Entry(ConsoleHostKeys.Result result, Instant at) {}

    private final Console console;
    private final Clock clock;
    private final Map<String, Entry> byInstance = new ConcurrentHashMap<>();

    public HostKeyStore(Console console, Clock clock) {
        this.console = console;
        this.clock = clock;
    }

    /** The console through EC2: what the instance printed since boot, as EC2 posted it. */
    public static Console ec2(AwsClients clients) {
        return (region, instanceId) -> {
            String out = clients.ec2(region)
                    .getConsoleOutput(r -> r.instanceId(instanceId))
                    .output();
            return out == null ? "" : new String(Base64.getMimeDecoder().decode(out), StandardCharsets.UTF_8);
        };
    }

    public ConsoleHostKeys.Result keys(String region, String instanceId) {
        Entry e = byInstance.get(instanceId);
        Instant now = clock.instant();
        if (e != null && (e.result().found() || now.isBefore(e.at().plus(RETRY)))) {
            return e.result();
        }
        ConsoleHostKeys.Result r = ConsoleHostKeys.parse(console.read(region, instanceId));
        byInstance.put(instanceId, new Entry(r, now));
        return r;
    }

    /** Forgets instances that are no longer in the inventory. */
    public void retain(Set<String> instanceIds) {
        byInstance.keySet().retainAll(instanceIds);
    }
}
