package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.inventory.RegionStore.RegionView;
import ops.teleportha.inventory.inventory.RegionStore.Status;

/**
 * Renders discovered hosts into the Ansible {@code --list} JSON, the proxy peers list and the
 * Prometheus HTTP service discovery document.
 *
 * <p>Only hosts that are InService, Healthy and running go into the role, region and ASG groups;
 * every other host is visible only in a {@code teleport_lifecycle_*} group, so that a play that
 * targets {@code teleport_proxy} can never configure a host that is leaving.
 */
public final class InventoryBuilder {
    public static final List<String> LIFECYCLE = List.of("pending", "standby", "terminating", "unhealthy", "other");
    public static final ObjectMapper JSON = new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    private final InventoryConfig config;

    public InventoryBuilder(InventoryConfig config) {
        this.config = config;
    }

    public Inventory build(List<RegionView> regions, Instant now) {
        List<String> unavailable = new ArrayList<>();
        List<String> stale = new ArrayList<>();
        List<DiscoveredHost> hosts = new ArrayList<>();
        for (RegionView v : regions) {
            if (v.status() == Status.UNAVAILABLE) {
                String why = v.lastFailure() == null ? "not discovered yet" : v.lastFailure().reason() + ": " + v.lastFailure().message();
                unavailable.add(v.region() + (v.data() == null ? " (never discovered: " : " (last good data too old: ") + why + ")");
                continue;
            }
            if (v.status() == Status.STALE) {
                stale.add(v.region());
            }
            hosts.addAll(v.data().hosts());
        }
        if (!unavailable.isEmpty()) {
            throw new InventoryUnavailableException("inventory unavailable: region " + String.join("; region ", unavailable));
        }
        return render(hosts, stale, now);
    }

    private Inventory render(List<DiscoveredHost> hosts, List<String> stale, Instant now) {
        Map<String, ObjectNode> hostvars = new TreeMap<>();
        Map<String, Set<String>> groups = new TreeMap<>();
        Map<String, String> peerOwner = new HashMap<>();
        List<ObjectNode> peers = new ArrayList<>();
        ArrayNode sd = JSON.createArrayNode();
        Map<List<String>, Integer> counts = new HashMap<>();
        List<String> problems = new ArrayList<>();

        for (DiscoveredHost h : hosts) {
            Function<String, String> lookup = placeholders(h);
            String name;
            try {
                name = config.hostNameTemplate().render(lookup);
            } catch (IllegalArgumentException e) {
                problems.add("host " + h.instanceId() + " (" + h.region() + "): host_name_template '" + config.hostNameTemplate() + "': " + e.getMessage());
                continue;
            }
            if (hostvars.containsKey(name)) {
                problems.add("host_name_template '" + config.hostNameTemplate() + "' gives the same name '" + name
                        + "' to two instances; include {instance_id} or {region} to make names unique");
                continue;
            }
            String category = h.lifecycleCategory();
            counts.merge(List.of(h.region(), h.role(), category), 1, Integer::sum);

            ObjectNode v = JSON.createObjectNode();
            String ansibleHost = null;
            try {
                ansibleHost = ansibleHost(h);
            } catch (IllegalArgumentException e) {
                if (h.ready()) {
                    problems.add("host " + name + " (" + h.region() + "): ansible_host.source " + config.ansibleHost().source().key() + ": " + e.getMessage());
                    continue;
                }
            }
            if (ansibleHost != null) {
                v.put("ansible_host", ansibleHost);
            }
            v.put("teleport_role", h.role());
            v.put("teleport_cluster", config.cluster());
            v.put("aws_region", h.region());
            v.put("aws_availability_zone", h.availabilityZone());
            v.put("aws_instance_id", h.instanceId());
            v.put("aws_asg_name", h.asgName());
            v.put("aws_lifecycle_state", h.lifecycleState());
            v.put("aws_health_status", h.healthStatus());
            v.put("aws_instance_state", h.ec2State());
            v.put("aws_private_ip", h.privateIp());
            v.put("aws_public_ip", h.publicIp());
            v.put("aws_private_dns", h.privateDns());
            v.put("aws_public_dns", h.publicDns());
            v.put("aws_instance_type", h.instanceType());
            v.put("aws_image_id", h.imageId());
            ObjectNode tags = v.putObject("ec2_tags");
            new TreeMap<>(h.tags()).forEach(tags::put);

            if ("proxy".equals(h.role())) {
                try {
                    String addr = config.peerAddrTemplate().render(lookup);
                    v.put("teleport_peer_public_addr", addr);
                    if (h.ready()) {
                        String other = peerOwner.putIfAbsent(addr, name);
                        if (other != null) {
                            problems.add("peer_addr_template '" + config.peerAddrTemplate() + "' gives proxies " + other + " and " + name
                                    + " the same peer_public_addr " + addr + "; Teleport needs a unique address per proxy");
                        }
                        ObjectNode p = JSON.createObjectNode();
                        peers.add(p);
                        p.put("addr", addr);
                        p.put("host", name);
                        p.put("instance_id", h.instanceId());
                        p.put("region", h.region());
                        p.put("availability_zone", h.availabilityZone());
                        p.put("asg", h.asgName());
                    }
                } catch (IllegalArgumentException e) {
                    if (h.ready()) {
                        problems.add("proxy " + name + " (" + h.region() + "): peer_addr_template '" + config.peerAddrTemplate() + "': " + e.getMessage());
                    }
                }
            }
            hostvars.put(name, v);

            if (h.privateIp() != null && "running".equals(h.ec2State())) {
                ObjectNode target = sd.addObject();
                target.putArray("targets").add(h.privateIp() + ":" + config.nodeAgent().metricsPort());
                ObjectNode labels = target.putObject("labels");
                labels.put("teleport_cluster", config.cluster());
                labels.put("teleport_role", h.role());
                labels.put("teleport_ready", Boolean.toString(h.ready()));
                labels.put("inventory_host", name);
                labels.put("aws_region", h.region());
                labels.put("aws_availability_zone", String.valueOf(h.availabilityZone()));
                labels.put("aws_instance_id", h.instanceId());
                labels.put("aws_asg_name", h.asgName());
                labels.put("aws_lifecycle_state", String.valueOf(h.lifecycleState()));
            }

            if (h.ready()) {
                String region = groupSafe(h.region());
                add(groups, "teleport_" + h.role() + "_" + region, name);
                add(groups, "region_" + region, name);
                add(groups, "asg_" + groupSafe(h.asgName()), name);
            } else {
                add(groups, "teleport_lifecycle_" + category, name);
            }
        }
        if (!problems.isEmpty()) {
            throw new InventoryUnavailableException("inventory cannot be rendered: " + String.join("; ", problems));
        }

        ObjectNode root = JSON.createObjectNode();
        ObjectNode meta = root.putObject("_meta").putObject("hostvars");
        hostvars.forEach(meta::set);

        List<String> regionNames = config.regions().stream().map(InventoryBuilder::groupSafe).toList();
        Set<String> top = new TreeSet<>(List.of("teleport", "teleport_not_ready"));
        ObjectNode all = root.putObject("all");
        ObjectNode allVars = all.putObject("vars");
        allVars.put("teleport_inventory_cluster", config.cluster());
        allVars.put("teleport_inventory_generated_at", now.truncatedTo(ChronoUnit.SECONDS).toString());
        ArrayNode regionsVar = allVars.putArray("teleport_inventory_regions");
        config.regions().forEach(regionsVar::add);
        ArrayNode staleVar = allVars.putArray("teleport_inventory_stale_regions");
        stale.forEach(staleVar::add);

        // Role groups nest per region so AWX shows the tree; every group exists even when empty so
        // that plays targeting it do not warn about unknown patterns.
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
        List<String> lifecycleGroups = LIFECYCLE.stream().map(c -> "teleport_lifecycle_" + c).toList();
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

        ObjectNode peersDoc = JSON.createObjectNode();
        peersDoc.put("cluster", config.cluster());
        peersDoc.put("generated_at", now.truncatedTo(ChronoUnit.SECONDS).toString());
        peersDoc.set("stale_regions", staleVar.deepCopy());
        peers.sort((a, b) -> a.get("addr").asText().compareTo(b.get("addr").asText()));
        peersDoc.putArray("peers").addAll(peers);

        List<Inventory.HostCount> hostCounts = counts.entrySet().stream()
                .map(e -> new Inventory.HostCount(e.getKey().get(0), e.getKey().get(1), e.getKey().get(2), e.getValue()))
                .collect(Collectors.toList());
        return new Inventory(now, List.copyOf(stale), Collections.unmodifiableMap(new LinkedHashMap<>(hostvars)),
                bytes(root), bytes(peersDoc), bytes(sd), hostCounts);
    }

    private String ansibleHost(DiscoveredHost h) {
        String value = switch (config.ansibleHost().source()) {
            case PRIVATE_IP -> h.privateIp();
            case PUBLIC_IP -> h.publicIp();
            case PRIVATE_DNS -> h.privateDns();
            case PUBLIC_DNS -> h.publicDns();
            case INSTANCE_ID -> h.instanceId();
            case TAG -> h.tags().get(config.ansibleHost().tag().orElseThrow());
        };
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("the instance has no " + (config.ansibleHost().source().key().equals("tag")
                    ? "tag " + config.ansibleHost().tag().orElseThrow() : config.ansibleHost().source().key()));
        }
        return value;
    }

    static Function<String, String> placeholders(DiscoveredHost h) {
        return name -> {
            if (name.startsWith("tag:")) {
                return h.tags().get(name.substring(4));
            }
            return switch (name) {
                case "instance_id" -> h.instanceId();
                case "region" -> h.region();
                case "role" -> h.role();
                case "asg" -> h.asgName();
                case "availability_zone" -> h.availabilityZone();
                case "private_ip" -> h.privateIp();
                case "public_ip" -> h.publicIp();
                case "private_dns" -> h.privateDns();
                case "public_dns" -> h.publicDns();
                case "private_dns_or_ip" -> h.privateDns() != null ? h.privateDns() : h.privateIp();
                case "public_dns_or_ip" -> h.publicDns() != null ? h.publicDns() : h.publicIp();
                default -> throw new IllegalArgumentException("unknown placeholder {" + name + "}");
            };
        };
    }

    /** A valid Ansible group name fragment: letters, digits and underscores. */
    public static String groupSafe(String s) {
        return s.replaceAll("[^A-Za-z0-9_]", "_");
    }


    private static void add(Map<String, Set<String>> groups, String group, String host) {
        groups.computeIfAbsent(group, g -> new TreeSet<>()).add(host);
    }

    private static void hostGroup(ObjectNode root, String name, Set<String> hosts) {
        root.putObject(name).set("hosts", array(new ArrayList<>(hosts)));
    }

    private static ArrayNode array(List<String> values) {
        ArrayNode a = JSON.createArrayNode();
        values.forEach(a::add);
        return a;
    }

    private static byte[] bytes(Object node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise inventory", e);
        }
    }
}
