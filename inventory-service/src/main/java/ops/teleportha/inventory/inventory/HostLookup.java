package ops.teleportha.inventory.inventory;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.ExcludedHost;
import ops.teleportha.inventory.discovery.RegionDiscoverer;
import ops.teleportha.inventory.discovery.RegionResult;
import ops.teleportha.inventory.inventory.RegionStore.RegionView;
import ops.teleportha.inventory.inventory.RegionStore.Status;

/**
 * One instance's inventory name and host variables, exactly as {@code /v1/hosts/{name}} and {@code list} give
 * them: discovered alone ({@link RegionDiscoverer#discoverInstance}), with the same membership checks, then named
 * and rendered by the same {@link InventoryBuilder}. For an instance configuring itself at boot
 * ({@code inventory-service host}), which is not in service yet and so in no document's groups.
 */
public final class HostLookup {
    /** @param hostvars every string as Ansible's unsafe type, as the documents hold them */
    public record Found(String name, ObjectNode hostvars) {}

    private final InventoryConfig config;
    private final RegionDiscoverer discoverer;
    private final Clock clock;

    public HostLookup(InventoryConfig config, RegionDiscoverer discoverer, Clock clock) {
        this.config = config;
        this.discoverer = discoverer;
        this.clock = clock;
    }

    /** @throws InventoryUnavailableException naming why the instance has no variables */
    public Found find(String instanceId) {
        for (String region : config.regions()) {
            RegionResult r = discoverer.discoverInstance(region, instanceId);
            if (r.hosts().isEmpty() && r.excluded().isEmpty()) {
                continue;
            }
            Inventory inventory = new InventoryBuilder(config)
                    .build(List.of(new RegionView(region, Status.FRESH, r, null, Duration.ZERO)), clock.instant());
            if (inventory.hostvarsAt().size() == 1) {
                String only = inventory.hostvarsAt().keySet().iterator().next();
                return new Found(only, inventory.hostvars(only));
            }
            ExcludedHost why =
                    inventory.excluded().isEmpty() ? null : inventory.excluded().get(0);
            throw new InventoryUnavailableException("instance " + instanceId + " in " + region + " is left out of the"
                    + " inventory" + (why == null ? "" : " (" + why.reason() + "): " + why.detail()));
        }
        throw new InventoryUnavailableException("instance " + instanceId + " is in no Auto Scaling group of cluster "
                + config.cluster() + " (tags " + config.tags().cluster() + ", "
                + config.tags().role() + ") in "
                + String.join(", ", config.regions()));
    }
}
