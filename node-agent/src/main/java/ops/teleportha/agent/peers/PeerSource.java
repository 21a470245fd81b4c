package ops.teleportha.agent.peers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import ops.teleportha.agent.Log;
import ops.teleportha.agent.config.PeersConfig;
import ops.teleportha.agent.inventory.InventoryClient;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.config.HostPort;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * The peer list: the inventory service's {@code /v1/peers} and/or a file of {@code host:port} lines,
 * merged, without this host's own address. When a source fails, its last good list is kept.
 */
public final class PeerSource {
    private final PeersConfig config;
    private final AgentMetrics metrics;
    private final InventoryClient inventory;
    private List<HostPort> lastInventory = List.of();
    private List<HostPort> lastFile = List.of();

    public PeerSource(PeersConfig config, AgentMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
        this.inventory = config.inventoryUrl() == null
                ? null
                : new InventoryClient(config.inventoryUrl(), config.inventoryTokenFile(), config.inventoryCaFile());
    }

    /** Re-reads every source; returns the sorted, de-duplicated peers without self. */
    public synchronized List<HostPort> refresh() {
        if (inventory != null) {
            try {
                lastInventory = parsePeers(inventory.fetch());
            } catch (IOException | RuntimeException e) {
                metrics.peerListError("inventory");
                Log.warn(
                        "peers",
                        "peer list from " + config.inventoryUrl() + " failed, keeping the last one ("
                                + lastInventory.size() + " peers): " + e.getMessage());
            }
        }
        if (config.file() != null) {
            try {
                lastFile = fromFile();
            } catch (IOException e) {
                metrics.peerListError("file");
                Log.warn("peers", "cannot read peers.file " + config.file() + ", keeping the last one: " + e);
            }
        }
        TreeSet<String> seen = new TreeSet<>();
        List<HostPort> merged = new ArrayList<>();
        for (List<HostPort> list : List.of(lastInventory, lastFile)) {
            for (HostPort p : list) {
                if (p.equals(config.selfAddr())) {
                    continue;
                }
                if (seen.add(p.toString())) {
                    merged.add(p);
                }
            }
        }
        merged.sort((a, b) -> a.toString().compareTo(b.toString()));
        return List.copyOf(merged);
    }

    private List<HostPort> fromFile() throws IOException {
        List<HostPort> out = new ArrayList<>();
        int n = 0;
        for (String line : Files.readAllLines(config.file(), StandardCharsets.UTF_8)) {
            n++;
            String s = line.strip();
            int hash = s.indexOf('#');
            if (hash >= 0) {
                s = s.substring(0, hash).strip();
            }
            if (s.isEmpty()) {
                continue;
            }
            try {
                out.add(HostPort.parse(s));
            } catch (IllegalArgumentException e) {
                Log.warn("peers", config.file() + ":" + n + ": skipped: " + e.getMessage());
            }
        }
        return out;
    }

    /** Parses {@code {"peers":[{"addr":"host:port",...}]}}; JSON is read with the YAML parser (JSON is YAML). */
    static List<HostPort> parsePeers(String json) throws IOException {
        Object root;
        try {
            root = new Yaml(new SafeConstructor(new LoaderOptions())).load(json);
        } catch (YAMLException e) {
            throw new IOException("response is not JSON: " + e.getMessage().replace('\n', ' '));
        }
        if (!(root instanceof Map<?, ?> m) || !(m.get("peers") instanceof List<?> peers)) {
            throw new IOException("response has no \"peers\" list");
        }
        List<HostPort> out = new ArrayList<>();
        for (Object o : peers) {
            if (o instanceof Map<?, ?> p && p.get("addr") instanceof String addr) {
                try {
                    out.add(HostPort.parse(addr));
                } catch (IllegalArgumentException e) {
                    Log.warn("peers", "inventory peer skipped: " + e.getMessage());
                }
            }
        }
        return out;
    }
}
