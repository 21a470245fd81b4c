package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import ops.teleportha.inventory.discovery.DiscoveredHost;

/**
 * A discovered host as every document shows it: its unique inventory name, the Ansible groups it belongs
 * to, its host variables, and (for a proxy) its peer address. The variables node is not copied; renderers
 * copy it before they change anything.
 *
 * @param peerAddr the rendered {@code peer_addr_template}; {@code null} for auth hosts and for proxies
 *     that are not ready and have no value for it
 */
public record NamedHost(String name, DiscoveredHost host, List<String> groups, ObjectNode vars, String peerAddr) {
    public NamedHost {
        groups = List.copyOf(groups);
    }

    /** Listed in {@code /v1/peers}: a ready proxy with an address. */
    public boolean isPeer() {
        return host.ready() && "proxy".equals(host.role()) && peerAddr != null;
    }
}
