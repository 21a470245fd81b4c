package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.discovery.ExcludedHost;
import ops.teleportha.inventory.discovery.PoolBootFailures;

/**
 * One immutable, fully rendered inventory. The JSON documents are rendered once per refresh so that
 * serving them is a memory copy. A host's variables are not kept twice: {@code hostvarsAt} says where they
 * are in {@code inventoryJson} (its {@code _meta.hostvars}), and {@code /v1/hosts/{name}} serves that slice.
 *
 * @param hostvarsAt by host name, the byte range of its variables in {@code inventoryJson}
 */
public record Inventory(
        Instant generatedAt,
        List<String> staleRegions,
        Map<String, Range> hostvarsAt,
        byte[] inventoryJson,
        byte[] peersJson,
        byte[] serviceDiscoveryJson,
        byte[] teleportServiceDiscoveryJson,
        List<HostCount> counts,
        List<ExcludedHost> excluded,
        List<PoolBootFailures> bootFailures,
        Map<String, SshTarget> sshTargets) {

    /** Bytes {@code from} (inclusive) to {@code to} (exclusive) of a document. */
    public record Range(int from, int to) {}

    /** The variables of the host named {@code name}, as JSON (what {@code _meta.hostvars} holds), or {@code null}. */
    public byte[] hostvarsJson(String name) {
        Range r = hostvarsAt.get(name);
        return r == null ? null : Arrays.copyOfRange(inventoryJson, r.from(), r.to());
    }

    /** The same, parsed; {@code null} when no host has that name. */
    public ObjectNode hostvars(String name) {
        byte[] json = hostvarsJson(name);
        if (json == null) {
            return null;
        }
        try {
            return (ObjectNode) InventoryBuilder.JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("the inventory's own hostvars of " + name + " do not parse", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A ready host SSH may connect to, by the address Ansible uses for it ({@code ansible_host}) and by name. */
    public record SshTarget(String name, String address, String region, String instanceId) {}

    /** The ready host that SSH reaches at {@code host} (an address or an inventory name), or {@code null}. */
    public SshTarget sshTarget(String host) {
        return sshTargets.get(host);
    }

    /** Hosts per region, role and lifecycle category, for metrics. */
    public record HostCount(String region, String role, String state, int hosts) {}
}
