package ops.teleportha.inventory.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/** Reads the inventory as Ansible's JSON decoder does: {@code {"__ansible_unsafe": "x"}} is the text x. */
public final class AnsibleJson {
    private AnsibleJson() {}

    /** A deep copy with every unsafe marker replaced by its text. */
    public static JsonNode plain(JsonNode node) {
        if (node.isObject() && node.size() == 1 && node.has("__ansible_unsafe")) {
            return node.get("__ansible_unsafe");
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(v -> out.add(plain(v)));
            return out;
        }
        if (node.isObject()) {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            node.fields().forEachRemaining(e -> out.set(e.getKey(), plain(e.getValue())));
            return out;
        }
        return node;
    }

    /** The paths of every plain string under {@code node}: text Ansible would template. */
    public static List<String> plainStrings(JsonNode node) {
        List<String> out = new ArrayList<>();
        collect(node, "", out);
        return out;
    }

    private static void collect(JsonNode node, String path, List<String> out) {
        if (node.isTextual()) {
            out.add(path + "=" + node.asText());
        } else if (node.isObject() && node.size() == 1 && node.has("__ansible_unsafe")) {
            if (!node.get("__ansible_unsafe").isTextual()) {
                out.add(path + " (unsafe marker without text)");
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collect(node.get(i), path + "[" + i + "]", out);
            }
        } else if (node.isObject()) {
            node.fields().forEachRemaining(e -> collect(e.getValue(), path + "." + e.getKey(), out));
        }
    }
}
