package ops.teleportha.inventory.config;

import java.util.Arrays;
import java.util.Locale;

/** Where {@code ansible_host} comes from. */
public enum AnsibleHostSource {
    PRIVATE_IP,
    PUBLIC_IP,
    PRIVATE_DNS,
    PUBLIC_DNS,
    INSTANCE_ID,
    TAG;

    /** @throws IllegalArgumentException naming the accepted values */
    public static AnsibleHostSource parse(String value) {
        for (AnsibleHostSource s : values()) {
            if (s.key().equals(value)) {
                return s;
            }
        }
        throw new IllegalArgumentException("'" + value + "' is not one of "
                + String.join(
                        ", ",
                        Arrays.stream(values()).map(AnsibleHostSource::key).toList()));
    }

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }
}
