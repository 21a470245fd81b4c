package ops.teleportha.agent.tls;

import java.util.Locale;

/** Why a candidate pair was not installed. The label values of the rejection metric; keep the set fixed. */
public enum RejectReason {
    MISSING_CERT,
    MISSING_KEY,
    EMPTY_FILE,
    TOO_LARGE,
    SYMLINK_OUTSIDE_SOURCE,
    NOT_A_REGULAR_FILE,
    HARD_LINK,
    UNREADABLE,
    DER_NOT_PEM,
    MALFORMED_PEM,
    ENCRYPTED_KEY,
    UNSUPPORTED_KEY,
    WEAK_KEY,
    UNSUPPORTED_CURVE,
    CHAIN_WRONG_ORDER,
    CHAIN_UNTRUSTED,
    KEY_MISMATCH,
    NOT_YET_VALID,
    EXPIRED,
    EXPIRES_TOO_SOON,
    MISSING_SAN,
    MISSING_DIGITAL_SIGNATURE,
    MISSING_SERVER_AUTH,
    OLDER_THAN_INSTALLED,
    NOT_CONFIRMED;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
