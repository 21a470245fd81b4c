package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.TreeMap;
import ops.teleportha.inventory.discovery.DiscoveredHost;

/**
 * A discovered host as every document shows it: its unique inventory name, the Ansible groups it belongs
 * to, its address for Ansible, and (for a proxy) its peer address. Its host variables are rendered on
 * demand ({@link #vars}), one host at a time, so that a refresh never holds every host's variables as
 * trees at once (bench/README.md, "Memory per host").
 *
 * @param ansibleHost the checked {@code ansible_host}; {@code null} for a host that is not ready and has none
 * @param peerAddr the rendered {@code peer_addr_template}; {@code null} for auth hosts and for proxies
 *     that are not ready and have no value for it
 */
public record NamedHost(String name, DiscoveredHost host, List<String> groups, String ansibleHost, String peerAddr) {
    public NamedHost {
        groups = List.copyOf(groups);
    }

    /** The host's variables, plain (the Ansible document marks every string unsafe when it renders them). */
    ObjectNode vars(String cluster) {
        DiscoveredHost h = host;
        ObjectNode v = InventoryBuilder.JSON.createObjectNode();
        if (ansibleHost != null) {
            v.put("ansible_host", ansibleHost);
        }
        v.put("teleport_role", h.role());
        v.put("teleport_cluster", cluster);
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
        v.put("teleport_converge_state", h.convergeState());
        v.put("teleport_boot_config_digest", h.bootConfigDigest());
        ObjectNode tags = v.putObject("ec2_tags");
        new TreeMap<>(h.tags()).forEach(tags::put);
        if (peerAddr != null) {
            v.put("teleport_peer_public_addr", peerAddr);
        }
        return v;
    }

    /** Listed in {@code /v1/peers}: a ready proxy with an address. */
    public boolean isPeer() {
        return host.ready() && "proxy".equals(host.role()) && peerAddr != null;
    }
}
