package ops.teleportha.inventory.discovery;

/**
 * How one member Auto Scaling group's recent launches failed their boot converge: the instances that wrote
 * {@code teleport-ha:boot-failure} on themselves (teleport-ha-boot, before it completed the launch hook ABANDON)
 * and were launched after the group's newest successful launch (an instance in service, or one in any state that
 * recorded its {@code teleport-ha:boot-config-digest}). Zero once a launch succeeds.
 *
 * @param consecutive failed launches since the group's last successful one (EC2 keeps terminated instances
 *     visible for about an hour, so on AWS this counts at most that far back)
 * @param latestReason the reason class of the newest of them, or {@code null} when there are none
 */
public record PoolBootFailures(String region, String role, String asg, int consecutive, String latestReason) {}
