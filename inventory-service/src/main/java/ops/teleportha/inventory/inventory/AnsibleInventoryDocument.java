package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.ExcludedHost;

/**
 * The Ansible {@code --list} JSON, with {@code _meta.hostvars}, and each host's variables on their own. Every
 * string in it is Ansible's unsafe type ({@link Values#unsafe}); {@code all.vars.teleport_inventory_excluded}
 * lists the instances left out, with why.
 */
final class AnsibleInventoryDocument {
    static final List<String> LIFECYCLE = List.of("pending", "standby", "terminating", "unhealthy", "other");

    /** @param hostvarsAt by host name, where its variables are in {@code json}, for {@code /v1/hosts/{name}} */
    record Rendered(byte[] json, Map<String, Inventory.Range> hostvarsAt) {}

    private final InventoryConfig config;

    AnsibleInventoryDocument(InventoryConfig config) {
        this.config = config;
    }

    /**
     * The document, written host by host: {@code _meta.hostvars} first, each host's variables rendered, marked
     * unsafe and written before the next host's are built (a refresh never holds every host's variables as trees),
     * then the groups.
     *
     * @param sizeHint the expected size in bytes (the last document's), so that the buffer is not grown by copies
     */
    Rendered render(
            List<NamedHost> hosts, List<ExcludedHost> excluded, List<String> staleRegions, Instant now, int sizeHint) {
        List<NamedHost> byName = new ArrayList<>(hosts);
        byName.sort(Comparator.comparing(NamedHost::name));
        Map<String, Set<String>> groups = new TreeMap<>();
        Map<String, Inventory.Range> hostvarsAt = new HashMap<>();
        Document out = new Document(sizeHint);
        out.writeAscii("{\"_meta\":{\"hostvars\":{");
        for (NamedHost h : byName) {
            if (!hostvarsAt.isEmpty()) {
                out.write(',');
            }
            out.writeBytes(InventoryBuilder.bytes(h.name()));
            out.write(':');
            int from = out.size();
            out.writeBytes(InventoryBuilder.bytes(Values.unsafe(h.vars(config.cluster()))));
            hostvarsAt.put(h.name(), new Inventory.Range(from, out.size()));
            for (String g : h.groups()) {
                groups.computeIfAbsent(g, k -> new TreeSet<>()).add(h.name());
            }
        }
        out.writeAscii("}}");

        ObjectNode root = InventoryBuilder.JSON.createObjectNode();
        ObjectNode all = root.putObject("all");
        ObjectNode allVars = all.putObject("vars");
        allVars.put("teleport_inventory_cluster", config.cluster());
        allVars.put(
                "teleport_inventory_generated_at",
                now.truncatedTo(ChronoUnit.SECONDS).toString());
        ArrayNode regionsVar = allVars.putArray("teleport_inventory_regions");
        config.regions().forEach(regionsVar::add);
        ArrayNode staleVar = allVars.putArray("teleport_inventory_stale_regions");
        staleRegions.forEach(staleVar::add);
        ArrayNode excludedVar = allVars.putArray("teleport_inventory_excluded");
        for (ExcludedHost e : excluded) {
            ObjectNode x = excludedVar.addObject();
            x.put("instance_id", e.instanceId());
            x.put("region", e.region());
            x.put("asg", e.asgName());
            x.put("role", e.role());
            x.put("reason", e.reason());
            x.put("detail", e.detail());
        }
        all.set("vars", Values.unsafe(allVars));

        // Role groups nest per region so AWX shows the tree; every group exists even when empty so
        // that plays targeting it do not warn about unknown patterns.
        List<String> regionNames =
                config.regions().stream().map(HostNaming::groupSafe).toList();
        Set<String> top = new TreeSet<>(List.of("teleport", "teleport_not_ready"));
        for (String role : List.of("auth", "proxy")) {
            List<String> children = new ArrayList<>();
            for (String region : regionNames) {
                String g = "teleport_" + role + "_" + region;
                children.add(g);
                hostGroup(root, g, groups.getOrDefault(g, Set.of()));
            }
            root.putObject("teleport_" + role).set("children", array(children));
        }
        root.putObject("teleport").set("children", array(List.of("teleport_auth", "teleport_proxy")));
        List<String> lifecycleGroups =
                LIFECYCLE.stream().map(c -> "teleport_lifecycle_" + c).toList();
        for (String g : lifecycleGroups) {
            hostGroup(root, g, groups.getOrDefault(g, Set.of()));
        }
        root.putObject("teleport_not_ready").set("children", array(lifecycleGroups));
        for (String region : regionNames) {
            String g = "region_" + region;
            hostGroup(root, g, groups.getOrDefault(g, Set.of()));
            top.add(g);
        }
        groups.keySet().stream().filter(g -> g.startsWith("asg_")).forEach(g -> {
            hostGroup(root, g, groups.get(g));
            top.add(g);
        });
        all.set("children", array(new ArrayList<>(top)));
        // The groups follow _meta in the same object: the tree's own braces are dropped.
        byte[] rest = InventoryBuilder.bytes(root);
        out.write(',');
        out.write(rest, 1, rest.length - 1);
        return new Rendered(out.take(), Collections.unmodifiableMap(hostvarsAt));
    }

    /** A growing buffer whose content is handed over without a copy when the size hint was exact. */
    static final class Document extends ByteArrayOutputStream {
        Document(int sizeHint) {
            super(Math.max(256, sizeHint));
        }

        void writeAscii(String s) {
            writeBytes(s.getBytes(StandardCharsets.US_ASCII));
        }

        byte[] take() {
            return count == buf.length ? buf : Arrays.copyOf(buf, count);
        }
    }

    private static void hostGroup(ObjectNode root, String name, Set<String> hosts) {
        root.putObject(name).set("hosts", array(new ArrayList<>(hosts)));
    }

    private static ArrayNode array(List<String> values) {
        ArrayNode a = InventoryBuilder.JSON.createArrayNode();
        values.forEach(a::add);
        return a;
    }
}
