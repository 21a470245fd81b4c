package ops.teleportha.agent.tls;

/** A candidate that must not be installed, with a reason for metrics and a detail for people. */
public final class RejectedCandidate extends Exception {
    private final RejectReason reason;

    public RejectedCandidate(RejectReason reason, String detail) {
        super(detail);
        this.reason = reason;
    }

    public RejectReason reason() {
        return reason;
    }
}
