package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What a value from AWS may look like before it reaches Ansible, and how it is handed over.
 *
 * <p>Ansible templates strings it reads from an inventory, so a tag value or a group name holding
 * {@code {{ ... }}} would run on the controller. Every string the inventory emits is therefore Ansible's
 * unsafe type ({@code {"__ansible_unsafe": "..."}}, which Ansible's JSON decoder turns into text it never
 * templates); the values Ansible uses as names and addresses, which cannot be marked (host names are keys),
 * must match strict patterns, and a host whose values do not is left out.
 */
final class Values {
    /** Ansible's marker for text it must never template (ansible.parsing.ajson.AnsibleJSONDecoder). */
    static final String UNSAFE = "__ansible_unsafe";

    private static final String LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    /** At most 253 characters; the last label is not all digits, so that 999.1.1.1 is no name. */
    private static final String DNS_NAME =
            "(?=[A-Za-z0-9.-]{1,253}(?![A-Za-z0-9.-]))(?:" + LABEL + "\\.)*(?=[A-Za-z0-9-]*[A-Za-z])" + LABEL;

    private static final String OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    private static final String IPV4 = OCTET + "(?:\\." + OCTET + "){3}";
    private static final String IPV6 = "[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}";
    private static final String PORT =
            "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})";

    /** An inventory host name: what EC2 instance ids, DNS names and Name tags that are names look like. */
    static final Pattern HOST_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,252}");
    /** What SSH or SSM connects to: a DNS name, an IP address or an instance id. */
    static final Pattern ANSIBLE_HOST =
            Pattern.compile(IPV4 + "|" + IPV6 + "|" + DNS_NAME + "|(?:i|mi)-[0-9a-f]{8,17}");
    /** Teleport's peer_public_addr: host:port with a DNS name or an IPv4 address, or [IPv6]:port. */
    static final Pattern PEER_ADDR = Pattern.compile("(?:" + IPV4 + "|" + DNS_NAME + "|\\[" + IPV6 + "\\]):" + PORT);
    /** The characters AWS allows in a tag key (EC2 CreateTags: letters, digits, spaces and _.:/=+-@), 1-128. */
    static final Pattern TAG_KEY = Pattern.compile("[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]{1,128}");

    private Values() {}

    /** Every string in {@code node}, at any depth, as Ansible's unsafe type; keys stay as they are. */
    static JsonNode unsafe(JsonNode node) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        if (node.isTextual()) {
            ObjectNode wrapped = f.objectNode();
            wrapped.put(UNSAFE, node.asText());
            return wrapped;
        }
        if (node.isArray()) {
            ArrayNode out = f.arrayNode();
            node.forEach(v -> out.add(unsafe(v)));
            return out;
        }
        if (node.isObject()) {
            ObjectNode out = f.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.set(e.getKey(), unsafe(e.getValue()));
            }
            return out;
        }
        return node;
    }
}
