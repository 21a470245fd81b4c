package ops.teleportha.agent.peers;

import java.time.Instant;

/**
 * One probe of one peer. Durations are in seconds and null when that stage was not reached.
 */
public record ProbeResult(
        String peer,
        ProbeOutcome outcome,
        Double connectSeconds,
        Double handshakeSeconds,
        String detail,
        Instant checkedAt) {
    public boolean up() {
        return outcome.up();
    }
}
