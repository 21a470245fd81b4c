package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import ops.teleportha.inventory.inventory.InventoryService.Current;
import ops.teleportha.inventory.inventory.RegionStore.RegionHealth;
import ops.teleportha.inventory.inventory.RegionStore.Status;

/**
 * {@code /readyz} and every other answer given without the bearer token: whether a complete inventory is
 * served, and per region its status and the class of its last failure. Built from {@link RegionHealth} only,
 * never from AWS's messages (account ids, role ARNs, instance ids) or the rendering refusals (host names),
 * which stay in the service's log and the authenticated answers.
 */
public final class ReadinessDocument {
    private ReadinessDocument() {}

    public static ObjectNode render(Current c) {
        ObjectNode body = InventoryBuilder.JSON.createObjectNode();
        if (c.inventory() != null) {
            body.put("status", "ready");
            body.put("generated_at", c.inventory().generatedAt().toString());
            body.set(
                    "stale_regions",
                    InventoryBuilder.JSON.valueToTree(c.inventory().staleRegions()));
        } else {
            body.put("status", "unavailable");
            body.put("error", publicError(c));
        }
        ArrayNode regions = body.putArray("regions");
        for (RegionHealth h : c.regions()) {
            ObjectNode r = regions.addObject();
            r.put("region", h.region());
            r.put("status", h.status().name().toLowerCase(Locale.ROOT));
            if (h.reason() != null) {
                r.put("reason", h.reason());
            }
        }
        return body;
    }

    /** Why nothing is served, in classes only: {@code inventory unavailable: region eu-central-1 (never discovered: auth)}. */
    public static String publicError(Current c) {
        List<String> missing = new ArrayList<>();
        for (RegionHealth h : c.regions()) {
            if (h.status() == Status.UNAVAILABLE) {
                missing.add("region " + h.region() + " ("
                        + (h.reason() == null
                                ? "not discovered yet"
                                : (h.everDiscovered() ? "last good data too old: " : "never discovered: ") + h.reason())
                        + ")");
            }
        }
        if (!missing.isEmpty()) {
            return "inventory unavailable: " + String.join("; ", missing);
        }
        String where = "the reason is in the service's log and in the answers to requests with the bearer token";
        return c.regions().isEmpty()
                ? "inventory unavailable; " + where
                : "inventory unavailable: the discovered hosts cannot be served as one inventory; " + where;
    }
}
