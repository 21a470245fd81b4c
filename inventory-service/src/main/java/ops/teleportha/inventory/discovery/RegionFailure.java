package ops.teleportha.inventory.discovery;

import java.util.Locale;
import java.util.Set;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;

/**
 * Why a region could not be discovered.
 *
 * @param reason one of {@link #REASONS}: a class that metrics, logs and unauthenticated answers ({@code /readyz})
 *     may show
 * @param message AWS's or the SDK's own words, for the service's log and authenticated answers only: it can hold
 *     the account id, a role ARN or an instance id
 */
public record RegionFailure(String region, String reason, String message) {
    /** Every reason {@link #of} gives. */
    public static final Set<String> REASONS =
            Set.of("throttled", "auth", "unreachable", "timeout", "api_error", "membership", "error");

    public RegionFailure {
        if (!REASONS.contains(reason)) {
            // A free-form reason could carry AWS's words into the places that must show a class only.
            throw new IllegalArgumentException("reason '" + reason + "' is not one of " + REASONS);
        }
    }

    public static RegionFailure of(String region, Throwable t) {
        if (t instanceof MembershipException m) {
            // Our own words (the parameter, the region, the fix): nothing of AWS's in them.
            return new RegionFailure(region, "membership", m.getMessage());
        }
        Throwable cause = t;
        while (cause.getCause() != null && !(cause instanceof SdkException)) {
            cause = cause.getCause();
        }
        String reason;
        if (cause instanceof AwsServiceException ase) {
            String code = ase.awsErrorDetails() == null
                    ? ""
                    : String.valueOf(ase.awsErrorDetails().errorCode());
            String lc = code.toLowerCase(Locale.ROOT);
            if (ase.isThrottlingException() || lc.contains("throttl") || lc.contains("requestlimitexceeded")) {
                reason = "throttled";
            } else if (ase.statusCode() == 401
                    || ase.statusCode() == 403
                    || lc.contains("auth")
                    || lc.contains("unrecognizedclient")
                    || lc.contains("expiredtoken")
                    || lc.contains("accessdenied")
                    || lc.contains("signature")) {
                reason = "auth";
            } else {
                reason = "api_error";
            }
            String msg = ase.awsErrorDetails() != null && ase.awsErrorDetails().errorMessage() != null
                    ? ase.awsErrorDetails().errorMessage()
                    : ase.getMessage();
            return new RegionFailure(region, reason, code + " (HTTP " + ase.statusCode() + "): " + msg);
        }
        if (cause instanceof SdkClientException) {
            String m = String.valueOf(cause.getMessage());
            reason = m.toLowerCase(Locale.ROOT).contains("timeout")
                            || m.toLowerCase(Locale.ROOT).contains("timed out")
                    ? "timeout"
                    : m.toLowerCase(Locale.ROOT).contains("credential") ? "auth" : "unreachable";
            return new RegionFailure(region, reason, m);
        }
        return new RegionFailure(region, "error", t.getClass().getSimpleName() + ": " + t.getMessage());
    }
}
