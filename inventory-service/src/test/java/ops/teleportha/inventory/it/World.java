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
import software.amazon.awssdk.services.ssm.SsmClient;
import software.amazon.awssdk.services.ssm.model.ParameterType;

/**
 * Seeds a moto server with Teleport-shaped Auto Scaling groups, the way aws-pools.yml creates them: tagged, and
 * recorded in the region's membership record (an SSM parameter) when they are a cluster's auth or proxy pool.
 */
public final class World implements AutoCloseable {
    public static final String ACCESS_KEY = "testing";
    public static final String SECRET_KEY = "testing";

    private final String endpoint;
    private final Map<String, Ec2Client> ec2 = new HashMap<>();
    private final Map<String, AutoScalingClient> asg = new HashMap<>();
    private final Map<String, SsmClient> ssm = new HashMap<>();
    private final Map<String, String> subnets = new HashMap<>();
    private final Map<String, String> launchTemplates = new HashMap<>();
    /** Per cluster and region, the membership record's groups, as JSON objects. */
    private final Map<String, List<String>> recorded = new HashMap<>();
    /** Groups that launch from a template of their own, as aws-pools.yml makes them: group -> {name, id}. */
    private final Map<String, List<String>> ownTemplates = new HashMap<>();

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

    private SsmClient ssm(String region) {
        return ssm.computeIfAbsent(region, r -> toMoto(SsmClient.builder(), r));
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
            launchTemplates.put(
                    r,
                    ec2(r).createLaunchTemplate(b -> b.launchTemplateName("teleport")
                                    .launchTemplateData(
                                            d -> d.imageId("ami-12c6146b").instanceType("t3.micro")))
                            .launchTemplate()
                            .launchTemplateId());
            return subnet;
        });
    }

    /**
     * An Auto Scaling group tagged TeleportCluster/TeleportRole (either may be null to leave it out), recorded as
     * one of the cluster's pools when it has both tags and the role is auth or proxy.
     */
    public List<String> group(String region, String name, String cluster, String role, int desired) {
        List<String> ids = stranger(region, name, cluster, role, desired);
        if (cluster != null && ("auth".equals(role) || "proxy".equals(role))) {
            record(region, cluster, name, role);
        }
        return ids;
    }

    /** Like {@link #group}, but launching from a launch template of its own, as each of aws-pools.yml's pools does. */
    public List<String> pool(String region, String name, String cluster, String role, int desired) {
        subnet(region);
        String template = "lt-" + name;
        String id = ec2(region)
                .createLaunchTemplate(b -> b.launchTemplateName(template)
                        .launchTemplateData(d -> d.imageId("ami-12c6146b").instanceType("t3.micro")))
                .launchTemplate()
                .launchTemplateId();
        ownTemplates.put(name, List.of(template, id));
        return group(region, name, cluster, role, desired);
    }

    /** A group with the cluster's tags that aws-pools.yml never recorded: anyone with autoscaling permissions. */
    public List<String> stranger(String region, String name, String cluster, String role, int desired) {
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
                        .launchTemplate(t -> t.launchTemplateName(
                                ownTemplates.containsKey(name)
                                        ? ownTemplates.get(name).get(0)
                                        : "teleport"))
                        .minSize(0)
                        .maxSize(Math.max(desired, 1) * 2)
                        .desiredCapacity(desired)
                        .vpcZoneIdentifier(subnet)
                        .tags(tags));
        return instances(region, name);
    }

    /** Adds a group to the region's membership record, as aws-pools.yml writes it. */
    public void record(String region, String cluster, String group, String role) {
        List<String> groups = recorded.computeIfAbsent(cluster + " " + region, k -> new ArrayList<>());
        groups.add("{\"name\": " + json(group) + ", \"role\": " + json(role) + ", \"launch_template_id\": "
                + json(ownTemplates.containsKey(group) ? ownTemplates.get(group).get(1) : launchTemplates.get(region))
                + ", \"instance_profile_arn\": \"\"}");
        putMembership(
                region,
                cluster,
                "{\"version\": 1, \"cluster\": " + json(cluster) + ", \"region\": " + json(region) + ", \"groups\": ["
                        + String.join(", ", groups) + "]}");
    }

    /** Writes the region's membership record as it is given (for malformed records). */
    public void putMembership(String region, String cluster, String value) {
        ssm(region)
                .putParameter(b -> b.name("/teleport/" + cluster + "/membership")
                        .type(ParameterType.STRING)
                        .overwrite(true)
                        .value(value));
    }

    private static String json(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
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

    /** AttachInstances: an instance that no launch template of the group started joins the group. */
    public void attach(String region, String group, String instanceId) {
        asg(region).attachInstances(b -> b.autoScalingGroupName(group).instanceIds(instanceId));
    }

    /** The launch template every group of the region launches from. */
    public String launchTemplate(String region) {
        subnet(region);
        return launchTemplates.get(region);
    }

    public void standby(String region, String group, String instanceId) {
        asg(region)
                .enterStandby(b ->
                        b.autoScalingGroupName(group).instanceIds(instanceId).shouldDecrementDesiredCapacity(true));
    }

    /** SetDesiredCapacity; returns the instances moto launched for it. */
    public List<String> scale(String region, String group, int desired) {
        List<String> before = instances(region, group);
        asg(region).setDesiredCapacity(b -> b.autoScalingGroupName(group).desiredCapacity(desired));
        List<String> after = new ArrayList<>(instances(region, group));
        after.removeAll(before);
        return after;
    }

    /** CreateTags on one instance, as the instance itself does (teleport-ha-boot). */
    public void tag(String region, String instanceId, String key, String value) {
        ec2(region)
                .createTags(b -> b.resources(instanceId)
                        .tags(software.amazon.awssdk.services.ec2.model.Tag.builder()
                                .key(key)
                                .value(value)
                                .build()));
    }

    /** An abandoned launch: Auto Scaling terminates the instance and lowers nothing but what it launched. */
    public void terminateInGroup(String region, String instanceId) {
        asg(region)
                .terminateInstanceInAutoScalingGroup(
                        b -> b.instanceId(instanceId).shouldDecrementDesiredCapacity(true));
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
        ssm.values().forEach(SsmClient::close);
    }
}
