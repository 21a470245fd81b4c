package ops.teleportha.inventory.hostkeys;

import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import ops.teleportha.inventory.inventory.Inventory;

/**
 * The answer to OpenSSH's {@code KnownHostsCommand}: known_hosts lines for the one host SSH is connecting to, with
 * the keys its console shows. Served by {@code serve} ({@code /v1/known_hosts/{host}}) and printed by the
 * {@code known-hosts} command; the inventory script hands either to SSH.
 */
public final class KnownHosts {
    /** What SSH searches for ({@code %H}): a host, or {@code [host]:port} off port 22. */
    private static final Pattern BRACKETED = Pattern.compile("\\[([^\\]]+)\\]:([0-9]{1,5})");

    /** A found host's lines, or why there are none. */
    public record Answer(String lines, String problem) {
        public boolean found() {
            return problem == null;
        }
    }

    private final HostKeyStore store;
    private volatile Inventory retainedFor;

    public KnownHosts(HostKeyStore store) {
        this.store = store;
    }

    public Answer answer(Inventory inventory, String searched) {
        Matcher m = BRACKETED.matcher(searched);
        String host = m.matches() ? m.group(1) : searched;
        Inventory.SshTarget target = inventory.sshTarget(host);
        if (target == null) {
            return new Answer(null, "no host of the cluster that is in service is reached at that address");
        }
        if (inventory != retainedFor) {
            // Once per rendered inventory: instances that left take their keys with them.
            Set<String> ids = inventory.sshTargets().values().stream()
                    .map(Inventory.SshTarget::instanceId)
                    .collect(Collectors.toSet());
            store.retain(ids);
            retainedFor = inventory;
        }
        ConsoleHostKeys.Result keys = store.keys(target.region(), target.instanceId());
        if (!keys.found()) {
            return new Answer(null, target.name() + " (" + target.instanceId() + "): " + keys.problem());
        }
        // The host field is what SSH searched for, which matched one of ours above.
        String name = m.matches() ? searched : target.address().equals(host) ? host : target.name();
        StringBuilder out = new StringBuilder();
        keys.keys().forEach(k -> out.append(name).append(' ').append(k).append('\n'));
        return new Answer(out.toString(), null);
    }
}
