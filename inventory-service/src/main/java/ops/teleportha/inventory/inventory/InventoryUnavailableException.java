package ops.teleportha.inventory.inventory;

/**
 * The inventory cannot be served without being wrong, for example because a region has never been
 * discovered: a missing region would mean wrong proxy peer lists, so nothing partial is served.
 */
public final class InventoryUnavailableException extends RuntimeException {
    public InventoryUnavailableException(String message) {
        super(message);
    }
}
