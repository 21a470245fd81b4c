package ops.teleportha.inventory.discovery;

import java.util.Map;
import java.util.regex.Pattern;

/** One instance of a Teleport Auto Scaling group, joined from Auto Scaling and EC2. */
public record DiscoveredHost(
        String region,
        String role,
        String asgName,
        String instanceId,
        String availabilityZone,
        String lifecycleState,
        String healthStatus,
        String ec2State,
        String privateIp,
        String publicIp,
        String privateDns,
        String publicDns,
        String instanceType,
        String imageId,
        Map<String, String> tags) {

    /** What teleport-ha-boot writes on its instance once it converged: the published configuration's sha256. */
    public static final String BOOT_DIGEST_TAG = "teleport-ha:boot-config-digest";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    public DiscoveredHost {
        tags = Map.copyOf(tags);
    }

    /** Safe to configure: in service, healthy, and running as far as EC2 knows. */
    public boolean ready() {
        return "InService".equals(lifecycleState) && "Healthy".equals(healthStatus) && "running".equals(ec2State);
    }

    /** The lifecycle group a host that is not ready belongs to. */
    public String lifecycleCategory() {
        if (ready()) {
            return "ready";
        }
        String s = lifecycleState == null ? "" : lifecycleState;
        if (s.startsWith("Pending")) {
            return "pending";
        }
        if (s.equals("Standby") || s.equals("EnteringStandby")) {
            return "standby";
        }
        if (s.startsWith("Terminating") || s.equals("Terminated") || s.startsWith("Detach")) {
            return "terminating";
        }
        if (s.equals("InService")) {
            return "unhealthy";
        }
        return "other";
    }

    /**
     * The digest of the published configuration this instance converged with at boot, as data: a sha256 in hex,
     * or {@code null} when the tag is absent (a host site.yml configured) or holds anything else.
     */
    public String bootConfigDigest() {
        String v = tags.get(BOOT_DIGEST_TAG);
        return isBootDigest(v) ? v : null;
    }

    /** Whether a {@value #BOOT_DIGEST_TAG} value is one teleport-ha-boot writes: a sha256 in lowercase hex. */
    public static boolean isBootDigest(String value) {
        return value != null && SHA256.matcher(value).matches();
    }

    /**
     * Where the instance's own configuration stands: {@code failed} (its boot converge abandoned it),
     * {@code configuring} (Pending: the launch hook holds it while it configures itself), {@code leaving}
     * (terminating or detaching), {@code configured} otherwise.
     */
    public String convergeState() {
        String s = lifecycleState == null ? "" : lifecycleState;
        if (tags.containsKey(RegionDiscoverer.BOOT_FAILURE_TAG)) {
            return "failed";
        }
        if (s.startsWith("Pending")) {
            return "configuring";
        }
        if (s.startsWith("Terminating") || s.equals("Terminated") || s.startsWith("Detach")) {
            return "leaving";
        }
        return "configured";
    }
}
