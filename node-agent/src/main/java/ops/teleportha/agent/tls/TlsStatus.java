package ops.teleportha.agent.tls;

import java.time.Instant;
import java.util.List;

/**
 * What {@code /v1/tls/status} shows, kept in memory by the rotator so that a request reads no file.
 *
 * @param installed the pair Teleport reads now; {@code null} when none is installed
 * @param lastRotation the last attempt to install a candidate; {@code null} before the first
 * @param served what Teleport was last seen serving when the agent confirmed a rotation; {@code null} before
 *     the first confirmation or when {@code tls.verify.addr} is empty
 * @param checkedAt when the drop directory was last looked at
 */
public record TlsStatus(Installed installed, Rotation lastRotation, Served served, Instant checkedAt) {
    public static final TlsStatus NONE = new TlsStatus(null, null, null, null);

    /** The installed leaf, by fingerprint: never key material. */
    public record Installed(String fingerprintSha256, Instant notBefore, Instant notAfter, List<String> names) {
        public Installed {
            names = List.copyOf(names);
        }
    }

    /**
     * @param result a value of the {@code tls_rotations_total} {@code result} label: installed, rejected,
     *     rolled_back, unconfirmed, failed
     * @param reason the {@code tls_rejections_total} reason for rejected and rolled_back, else {@code null}
     */
    public record Rotation(String result, String reason, String detail, Instant at) {}

    public record Served(String fingerprintSha256, Instant confirmedAt) {}

    TlsStatus withInstalled(Installed i) {
        return new TlsStatus(i, lastRotation, served, checkedAt);
    }

    TlsStatus withRotation(Rotation r) {
        return new TlsStatus(installed, r, served, checkedAt);
    }

    TlsStatus withServed(Served s) {
        return new TlsStatus(installed, lastRotation, s, checkedAt);
    }

    TlsStatus withCheckedAt(Instant t) {
        return new TlsStatus(installed, lastRotation, served, t);
    }
}
