package ops.teleportha.inventory.discovery;

/** The region's membership record is missing or malformed: nothing in that region can be trusted to join. */
public final class MembershipException extends RuntimeException {
    public MembershipException(String parameter, String region, String problem) {
        super("membership record " + parameter + " in " + region + " " + problem
                + "; aws-pools.yml writes it when it converges the pools (run it, or see docs/inventory-service.md,"
                + " \"Membership\")");
    }
}
