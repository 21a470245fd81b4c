package ops.teleportha.inventory.it;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.client.builder.AwsClientBuilder;
import software.amazon.awssdk.awscore.client.builder.AwsSyncClientBuilder;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.autoscaling.AutoScalingClient;
import software.amazon.awssdk.services.autoscaling.model.Tag;
import software.amazon.awssdk.services.ec2.Ec2Client;
import software.amazon.awssdk.services.ec2.model.ResourceType;

/** Seeds a moto server with Teleport-shaped Auto Scaling groups, the way Terraform would tag them. */
public final class World implements AutoCloseable {
    public static final String ACCESS_KEY = "testing";
    public static final String SECRET_KEY = "testing";

    private final String endpoint;
    private final Map<String, Ec2Client> ec2 = new HashMap<>();
    private final Map<String, AutoScalingClient> asg = new HashMap<>();
    private final Map<String, String> subnets = new HashMap<>();
    private int nextCidr = 1;

    public World(String endpoint) {
        this.endpoint = endpoint;
    }

    private Ec2Client ec2(String region) {
        return ec2.computeIfAbsent(region, r -> toMoto(Ec2Client.builder(), r));
    }

    private AutoScalingClient asg(String region) {
        return asg.computeIfAbsent(region, r -> toMoto(AutoScalingClient.builder(), r));
    }

    /** Any SDK client, pointed at this moto server in one region with the test credentials. */
    private <B extends AwsClientBuilder<B, C> & AwsSyncClientBuilder<B, C>, C> C toMoto(B builder, String region) {
        return builder.region(Region.of(region))
                .endpointOverride(URI.create(endpoint))
                .httpClient(UrlConnectionHttpClient.create())
                .credentialsProvider(
                        StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
                .build();
    }

    /** One VPC and subnet per region, from 198.18.0.0/15, plus a launch template. */
    public String subnet(String region) {
        return subnets.computeIfAbsent(region, r -> {
            String cidr = "198.18." + (nextCidr++) + ".0/24";
            String vpc = ec2(r).createVpc(b -> b.cidrBlock(cidr)).vpc().vpcId();
            String subnet = ec2(r).createSubnet(
                            b -> b.vpcId(vpc).cidrBlock(cidr).availabilityZone(r + "a"))
                    .subnet()
                    .subnetId();
            ec2(r).createLaunchTemplate(b -> b.launchTemplateName("teleport")
                    .launchTemplateData(d -> d.imageId("ami-12c6146b").instanceType("t3.micro")));
            return subnet;
        });
    }

    /** An Auto Scaling group tagged TeleportCluster/TeleportRole (either may be null to leave it out). */
    public List<String> group(String region, String name, String cluster, String role, int desired) {
        String subnet = subnet(region);
        List<Tag> tags = new ArrayList<>();
        if (cluster != null) {
            tags.add(Tag.builder()
                    .key("TeleportCluster")
                    .value(cluster)
                    .propagateAtLaunch(true)
                    .build());
        }
        if (role != null) {
            tags.add(Tag.builder()
                    .key("TeleportRole")
                    .value(role)
                    .propagateAtLaunch(true)
                    .build());
        }
        asg(region)
                .createAutoScalingGroup(b -> b.autoScalingGroupName(name)
                        .launchTemplate(t -> t.launchTemplateName("teleport"))
                        .minSize(0)
                        .maxSize(Math.max(desired, 1) * 2)
                        .desiredCapacity(desired)
                        .vpcZoneIdentifier(subnet)
                        .tags(tags));
        return instances(region, name);
    }

    public List<String> instances(String region, String name) {
        return asg(region)
                .describeAutoScalingGroups(b -> b.autoScalingGroupNames(name))
                .autoScalingGroups()
                .get(0)
                .instances()
                .stream()
                .map(i -> i.instanceId())
                .sorted()
                .toList();
    }

    public void standby(String region, String group, String instanceId) {
        asg(region)
                .enterStandby(b ->
                        b.autoScalingGroupName(group).instanceIds(instanceId).shouldDecrementDesiredCapacity(true));
    }

    public void unhealthy(String region, String instanceId) {
        asg(region).setInstanceHealth(b -> b.instanceId(instanceId).healthStatus("Unhealthy"));
    }

    /** Instances outside any Auto Scaling group, even if tagged like Teleport hosts. */
    public List<String> loneInstances(String region, int count, String cluster) {
        String subnet = subnet(region);
        return ec2(region)
                .runInstances(b -> b.imageId("ami-12c6146b")
                        .instanceType("t3.micro")
                        .minCount(count)
                        .maxCount(count)
                        .subnetId(subnet)
                        .tagSpecifications(t -> t.resourceType(ResourceType.INSTANCE)
                                .tags(
                                        software.amazon.awssdk.services.ec2.model.Tag.builder()
                                                .key("TeleportCluster")
                                                .value(cluster)
                                                .build(),
                                        software.amazon.awssdk.services.ec2.model.Tag.builder()
                                                .key("TeleportRole")
                                                .value("proxy")
                                                .build())))
                .instances()
                .stream()
                .map(i -> i.instanceId())
                .toList();
    }

    @Override
    public void close() {
        ec2.values().forEach(Ec2Client::close);
        asg.values().forEach(AutoScalingClient::close);
    }
}
