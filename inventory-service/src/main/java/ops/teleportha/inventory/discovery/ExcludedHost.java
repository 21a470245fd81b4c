package ops.teleportha.inventory.discovery;

/**
 * An instance left out of the inventory, and why. It is reported (in the inventory's
 * {@code teleport_inventory_excluded} variable, as unsafe text, in a metric and in the log) and never configured.
 *
 * @param reason a bounded class for metrics: {@code not_a_member}, {@code invalid_host_name},
 *     {@code invalid_ansible_host}, {@code invalid_peer_addr}, {@code invalid_tag}
 * @param detail a sentence for people; values from AWS in it are JSON-quoted
 */
public record ExcludedHost(
        String region, String instanceId, String asgName, String role, String reason, String detail) {}
