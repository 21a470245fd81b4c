package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.discovery.ExcludedHost;
import ops.teleportha.inventory.discovery.PoolBootFailures;
import ops.teleportha.inventory.inventory.RegionStore.RegionView;
import ops.teleportha.inventory.inventory.RegionStore.Status;

/**
 * Turns the per-region views into one {@link Inventory}: refuses when a region is missing, names the hosts
 * once ({@link HostNaming}), then renders each document from the same named hosts: the Ansible inventory
 * with its host variables, the proxy peers list and the Prometheus service discovery documents (the
 * node-agents' and Teleport's, the same hosts with the same labels). Hosts that
 * discovery or naming left out are carried along, to be reported.
 */
public final class InventoryBuilder {
    public static final ObjectMapper JSON =
            new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    private final HostNaming naming;
    private final AnsibleInventoryDocument ansible;
    private final PeersDocument peers;
    private final ServiceDiscoveryDocument serviceDiscovery;
    private final ServiceDiscoveryDocument teleportServiceDiscovery;
    /** The last Ansible document's size: the next one is about as large (see {@link AnsibleInventoryDocument}). */
    private int inventorySize;

    public InventoryBuilder(InventoryConfig config) {
        this.naming = new HostNaming(config);
        this.ansible = new AnsibleInventoryDocument(config);
        this.peers = new PeersDocument(config.cluster());
        this.serviceDiscovery = new ServiceDiscoveryDocument(
                config.cluster(), config.nodeAgent().metricsPort());
        this.teleportServiceDiscovery =
                new ServiceDiscoveryDocument(config.cluster(), config.teleport().diagPort());
    }

    /** @throws InventoryUnavailableException when a region is missing or the hosts cannot be named */
    public Inventory build(List<RegionView> regions, Instant now) {
        List<String> unavailable = new ArrayList<>();
        List<String> stale = new ArrayList<>();
        List<DiscoveredHost> hosts = new ArrayList<>();
        List<ExcludedHost> excluded = new ArrayList<>();
        List<PoolBootFailures> bootFailures = new ArrayList<>();
        for (RegionView v : regions) {
            if (v.status() == Status.UNAVAILABLE) {
                String why = v.lastFailure() == null
                        ? "not discovered yet"
                        : v.lastFailure().reason() + ": " + v.lastFailure().message();
                unavailable.add(v.region() + (v.data() == null ? " (never discovered: " : " (last good data too old: ")
                        + why + ")");
                continue;
            }
            if (v.status() == Status.STALE) {
                stale.add(v.region());
            }
            hosts.addAll(v.data().hosts());
            excluded.addAll(v.data().excluded());
            bootFailures.addAll(v.data().bootFailures());
        }
        if (!unavailable.isEmpty()) {
            throw new InventoryUnavailableException(
                    "inventory unavailable: region " + String.join("; region ", unavailable));
        }
        HostNaming.Naming naming = this.naming.name(hosts);
        List<NamedHost> named = naming.hosts();
        excluded.addAll(naming.excluded());
        AnsibleInventoryDocument.Rendered inventory =
                ansible.render(named, excluded, stale, now, inventorySize + inventorySize / 16);
        inventorySize = inventory.json().length;
        return new Inventory(
                now,
                List.copyOf(stale),
                inventory.hostvarsAt(),
                inventory.json(),
                peers.render(named, stale, now),
                serviceDiscovery.render(named),
                teleportServiceDiscovery.render(named),
                counts(named),
                List.copyOf(excluded),
                List.copyOf(bootFailures),
                sshTargets(named));
    }

    private static Map<String, Inventory.SshTarget> sshTargets(List<NamedHost> hosts) {
        Map<String, Inventory.SshTarget> out = new LinkedHashMap<>();
        for (NamedHost n : hosts) {
            if (!n.host().ready() || n.ansibleHost() == null) {
                continue;
            }
            var t = new Inventory.SshTarget(
                    n.name(), n.ansibleHost(), n.host().region(), n.host().instanceId());
            out.put(t.address(), t);
            out.putIfAbsent(t.name(), t);
        }
        return Map.copyOf(out);
    }

    private static List<Inventory.HostCount> counts(List<NamedHost> hosts) {
        Map<List<String>, Integer> counts = new LinkedHashMap<>();
        for (NamedHost n : hosts) {
            counts.merge(List.of(n.host().region(), n.host().role(), n.host().lifecycleCategory()), 1, Integer::sum);
        }
        return counts.entrySet().stream()
                .map(e -> new Inventory.HostCount(
                        e.getKey().get(0), e.getKey().get(1), e.getKey().get(2), e.getValue()))
                .toList();
    }

    static byte[] bytes(Object node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise inventory", e);
        }
    }
}
