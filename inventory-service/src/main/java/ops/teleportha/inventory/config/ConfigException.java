package ops.teleportha.inventory.config;

/** A configuration problem; the message names the key path (or file) and the fix. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
