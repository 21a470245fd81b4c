package ops.teleportha.inventory.inventory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.discovery.ExcludedHost;
import ops.teleportha.inventory.discovery.Membership;

/**
 * The one step every document is rendered from: gives each discovered host its inventory name, groups,
 * variables and peer address, and refuses what would make any document wrong (two hosts with one name,
 * two ready proxies with one peer address, a ready host without the address {@code ansible_host.source}
 * asks for), naming every offending host at once. A host whose name, address or peer address (rendered
 * from tags and AWS attributes) is not a host name, an address or host:port, or whose tag keys AWS would
 * never allow, is hostile input: it is left out and reported ({@link Values}), never passed on.
 *
 * <p>Only hosts that are InService, Healthy and running go into the role, region and ASG groups; every
 * other host is in a {@code teleport_lifecycle_*} group only, so that a play that targets
 * {@code teleport_proxy} can never configure a host that is leaving.
 */
final class HostNaming {
    private final InventoryConfig config;

    HostNaming(InventoryConfig config) {
        this.config = config;
    }

    /** The named hosts, and the hosts left out because a value from AWS is not what it must be. */
    record Naming(List<NamedHost> hosts, List<ExcludedHost> excluded) {}

    /** @throws InventoryUnavailableException naming every problem */
    Naming name(List<DiscoveredHost> hosts) {
        List<NamedHost> named = new ArrayList<>();
        List<ExcludedHost> excluded = new ArrayList<>();
        Set<String> names = new HashSet<>();
        Map<String, String> peerOwner = new HashMap<>();
        List<String> problems = new ArrayList<>();

        for (DiscoveredHost h : hosts) {
            String badKey = h.tags().keySet().stream()
                    .filter(k -> !Values.TAG_KEY.matcher(k).matches())
                    .sorted()
                    .findFirst()
                    .orElse(null);
            if (badKey != null) {
                excluded.add(exclude(
                        h,
                        "invalid_tag",
                        "its tag key " + Membership.quote(badKey) + " has characters AWS never allows in a tag key"));
                continue;
            }
            Function<String, String> lookup = placeholders(h);
            String name;
            try {
                name = config.hostNameTemplate().render(lookup);
            } catch (IllegalArgumentException e) {
                problems.add("host " + h.instanceId() + " (" + h.region() + "): host_name_template '"
                        + config.hostNameTemplate() + "': " + e.getMessage());
                continue;
            }
            if (!Values.HOST_NAME.matcher(name).matches()) {
                excluded.add(exclude(
                        h,
                        "invalid_host_name",
                        "host_name_template '" + config.hostNameTemplate()
                                + "' gives it the name " + Membership.quote(name)
                                + ", which is not a host name (letters,"
                                + " digits, '.', '_' and '-', at most 253)"));
                continue;
            }
            if (!names.add(name)) {
                problems.add("host_name_template '" + config.hostNameTemplate() + "' gives the same name '" + name
                        + "' to two instances; include {instance_id} or {region} to make names unique");
                continue;
            }

            String ansibleHost = null;
            try {
                ansibleHost = ansibleHost(h);
            } catch (IllegalArgumentException e) {
                if (h.ready()) {
                    problems.add("host " + name + " (" + h.region() + "): ansible_host.source "
                            + config.ansibleHost().source().key() + ": " + e.getMessage());
                    continue;
                }
            }
            if (ansibleHost != null && !Values.ANSIBLE_HOST.matcher(ansibleHost).matches()) {
                excluded.add(exclude(
                        h,
                        "invalid_ansible_host",
                        "ansible_host.source "
                                + config.ansibleHost().source().key() + " gives it the address "
                                + Membership.quote(ansibleHost)
                                + ", which is not a DNS name, an IP address or an instance id"));
                names.remove(name);
                continue;
            }

            String peerAddr = null;
            if ("proxy".equals(h.role())) {
                try {
                    peerAddr = config.peerAddrTemplate().render(lookup);
                } catch (IllegalArgumentException e) {
                    if (h.ready()) {
                        problems.add("proxy " + name + " (" + h.region() + "): peer_addr_template '"
                                + config.peerAddrTemplate() + "': " + e.getMessage());
                    }
                }
                if (peerAddr != null && !Values.PEER_ADDR.matcher(peerAddr).matches()) {
                    excluded.add(exclude(
                            h,
                            "invalid_peer_addr",
                            "peer_addr_template '" + config.peerAddrTemplate()
                                    + "' gives it the peer address " + Membership.quote(peerAddr)
                                    + ", which is not host:port (a DNS name or an IP address, and a port 1-65535)"));
                    names.remove(name);
                    continue;
                }
                if (peerAddr != null && h.ready()) {
                    String other = peerOwner.putIfAbsent(peerAddr, name);
                    if (other != null) {
                        problems.add("peer_addr_template '" + config.peerAddrTemplate() + "' gives proxies " + other
                                + " and " + name + " the same peer_public_addr " + peerAddr
                                + "; Teleport needs a unique address per proxy");
                    }
                }
            }
            named.add(new NamedHost(name, h, groups(h), ansibleHost, peerAddr));
        }
        if (!problems.isEmpty()) {
            throw new InventoryUnavailableException("inventory cannot be rendered: " + String.join("; ", problems));
        }
        return new Naming(named, excluded);
    }

    private static ExcludedHost exclude(DiscoveredHost h, String reason, String detail) {
        return new ExcludedHost(h.region(), h.instanceId(), h.asgName(), h.role(), reason, detail);
    }

    private static List<String> groups(DiscoveredHost h) {
        if (!h.ready()) {
            return List.of("teleport_lifecycle_" + h.lifecycleCategory());
        }
        String region = groupSafe(h.region());
        return List.of("teleport_" + h.role() + "_" + region, "region_" + region, "asg_" + groupSafe(h.asgName()));
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
            throw new IllegalArgumentException("the instance has no "
                    + (config.ansibleHost().source().key().equals("tag")
                            ? "tag " + config.ansibleHost().tag().orElseThrow()
                            : config.ansibleHost().source().key()));
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
    static String groupSafe(String s) {
        return s.replaceAll("[^A-Za-z0-9_]", "_");
    }
}
