package ops.teleportha.inventory.discovery;

import java.util.Map;

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
}
