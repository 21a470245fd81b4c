package ops.teleportha.inventory.discovery;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import ops.teleportha.inventory.config.InventoryConfig;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.autoscaling.AutoScalingClient;
import software.amazon.awssdk.services.ec2.Ec2Client;
import software.amazon.awssdk.services.ssm.SsmClient;
import software.amazon.awssdk.services.sts.StsClient;
import software.amazon.awssdk.services.sts.auth.StsAssumeRoleCredentialsProvider;

/**
 * Builds and caches one Auto Scaling, one EC2 and one SSM client per region. Credentials come from the SDK
 * default chain (env, profile, web identity, instance profile), optionally through an assumed role.
 */
public final class AwsClients implements AutoCloseable {
    private final InventoryConfig.Aws aws;
    private final SdkHttpClient http;
    /**
     * The timers of every client's API-call timeout and retry backoff. Each SDK client otherwise starts
     * its own pool (5 threads): one per region and service is a dozen idle threads in {@code serve}.
     */
    private final ScheduledExecutorService timers = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "aws-timers");
        t.setDaemon(true);
        return t;
    });

    private final AwsCredentialsProvider credentials;
    private final StsClient sts;
    private final Map<String, AutoScalingClient> autoscaling = new ConcurrentHashMap<>();
    private final Map<String, Ec2Client> ec2 = new ConcurrentHashMap<>();
    private final Map<String, SsmClient> ssm = new ConcurrentHashMap<>();

    public AwsClients(InventoryConfig config) {
        this.aws = config.aws();
        this.http = UrlConnectionHttpClient.builder()
                .connectionTimeout(Duration.ofSeconds(5))
                .socketTimeout(Duration.ofSeconds(30))
                .build();
        AwsCredentialsProvider base = DefaultCredentialsProvider.builder().build();
        if (aws.assumeRoleArn().isPresent()) {
            String stsRegion = config.regions().get(0);
            var stsBuilder = StsClient.builder()
                    .region(Region.of(stsRegion))
                    .httpClient(http)
                    .credentialsProvider(base)
                    .overrideConfiguration(overrides());
            aws.endpointFor(stsRegion).ifPresent(stsBuilder::endpointOverride);
            this.sts = stsBuilder.build();
            this.credentials = StsAssumeRoleCredentialsProvider.builder()
                    .stsClient(sts)
                    .refreshRequest(r -> {
                        r.roleArn(aws.assumeRoleArn().get()).roleSessionName(aws.assumeRoleSessionName());
                        aws.assumeRoleExternalId().ifPresent(r::externalId);
                    })
                    .build();
        } else {
            this.sts = null;
            this.credentials = base;
        }
    }

    private ClientOverrideConfiguration overrides() {
        return ClientOverrideConfiguration.builder()
                // Standard mode retries throttling and transient errors with jittered exponential backoff.
                .retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                        .maxAttempts(aws.maxAttempts())
                        .build())
                .apiCallTimeout(aws.apiCallTimeout())
                .scheduledExecutorService(timers)
                .build();
    }

    public AutoScalingClient autoscaling(String region) {
        return autoscaling.computeIfAbsent(region, r -> {
            var b = AutoScalingClient.builder()
                    .region(Region.of(r))
                    .httpClient(http)
                    .credentialsProvider(credentials)
                    .overrideConfiguration(overrides());
            aws.endpointFor(r).ifPresent(b::endpointOverride);
            return b.build();
        });
    }

    public Ec2Client ec2(String region) {
        return ec2.computeIfAbsent(region, r -> {
            var b = Ec2Client.builder()
                    .region(Region.of(r))
                    .httpClient(http)
                    .credentialsProvider(credentials)
                    .overrideConfiguration(overrides());
            aws.endpointFor(r).ifPresent(b::endpointOverride);
            return b.build();
        });
    }

    public SsmClient ssm(String region) {
        return ssm.computeIfAbsent(region, r -> {
            var b = SsmClient.builder()
                    .region(Region.of(r))
                    .httpClient(http)
                    .credentialsProvider(credentials)
                    .overrideConfiguration(overrides());
            aws.endpointFor(r).ifPresent(b::endpointOverride);
            return b.build();
        });
    }

    @Override
    public void close() {
        autoscaling.values().forEach(AutoScalingClient::close);
        ec2.values().forEach(Ec2Client::close);
        ssm.values().forEach(SsmClient::close);
        if (sts != null) {
            sts.close();
        }
        if (credentials instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing on shutdown; nothing useful to do
            }
        }
        http.close();
        timers.shutdownNow();
    }
}
