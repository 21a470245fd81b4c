package ops.teleportha.inventory.discovery;

import java.util.Locale;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;

/** Why a region could not be discovered: a bounded reason (for metrics) and a readable message. */
public record RegionFailure(String region, String reason, String message) {

    public static RegionFailure of(String region, Throwable t) {
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
