package ops.teleportha.inventory.discovery;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import ops.teleportha.inventory.config.InventoryConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.autoscaling.model.AutoScalingGroup;
import software.amazon.awssdk.services.autoscaling.model.TagDescription;
import software.amazon.awssdk.services.ec2.model.Filter;
import software.amazon.awssdk.services.ec2.model.Instance;
import software.amazon.awssdk.services.ec2.model.Tag;
import software.amazon.awssdk.services.ssm.model.ParameterNotFoundException;

/**
 * Discovers one region: the Auto Scaling groups tagged for the cluster, then their instances.
 * Instances outside those groups never appear, whatever their tags. Tags only find candidates: a
 * candidate joins only when the cluster's {@link Membership} record proves it one of the cluster's own;
 * the others are returned as {@link ExcludedHost}s.
 */
public final class RegionDiscoverer {
    private static final Logger LOG = LoggerFactory.getLogger(RegionDiscoverer.class);
    public static final Set<String> ROLES = Set.of("auth", "proxy");
    /** Where aws-pools.yml records the pools, per region. */
    public static final String MEMBERSHIP_PARAMETER = "/teleport/{cluster}/membership";
    /** The tag EC2 itself puts on an instance launched from a launch template; users cannot write aws: tags. */
    static final String EC2_LAUNCH_TEMPLATE_TAG = "aws:ec2launchtemplate:id";
    /** DescribeInstances accepts at most 200 values per filter. */
    private static final int FILTER_VALUES = 200;
    /** The tag Auto Scaling puts on every instance it launches; no user can write an aws: tag. */
    static final String ASG_NAME_TAG = "aws:autoscaling:groupName";
    /** What teleport-ha-boot writes on its own instance before it abandons (docs/boot.md). */
    public static final String BOOT_FAILURE_TAG = "teleport-ha:boot-failure";
    /** The reason classes teleport-ha-boot writes; anything else is counted as {@code invalid}, never shown as is. */
    static final Pattern BOOT_REASON = Pattern.compile("[a-z][a-z0-9_]{0,31}");

    private final InventoryConfig config;
    private final AwsClients clients;
    private final Clock clock;

    public RegionDiscoverer(InventoryConfig config, AwsClients clients, Clock clock) {
        this.config = config;
        this.clients = clients;
        this.clock = clock;
    }

    public RegionResult discover(String region) {
        String clusterKey = config.tags().cluster();
        String roleKey = config.tags().role();
        List<AutoScalingGroup> groups = new ArrayList<>();
        clients.autoscaling(region)
                .describeAutoScalingGroupsPaginator(
                        r -> r.filters(f -> f.name("tag:" + clusterKey).values(config.cluster()))
                                .maxRecords(100))
                .autoScalingGroups()
                .forEach(groups::add);
        Membership membership = groups.isEmpty() ? null : membership(region);

        Map<String, String> roleByGroup = new HashMap<>();
        Map<String, software.amazon.awssdk.services.autoscaling.model.Instance> asgInstance = new HashMap<>();
        Map<String, String> groupOfInstance = new HashMap<>();
        List<ExcludedHost> excluded = new ArrayList<>();
        int skipped = 0;
        for (AutoScalingGroup g : groups) {
            // Re-check the cluster tag: the filter is the API's, the guarantee is ours.
            if (!config.cluster().equals(tag(g.tags(), clusterKey))) {
                continue;
            }
            String role = tag(g.tags(), roleKey);
            if (role == null || !ROLES.contains(role)) {
                LOG.debug(
                        "{}: skipping Auto Scaling group {}: {}={} is not auth or proxy",
                        region,
                        Membership.quote(g.autoScalingGroupName()),
                        roleKey,
                        role == null ? null : Membership.quote(role));
                skipped++;
                continue;
            }
            Membership.Refusal refusal = membership.checkGroup(g.autoScalingGroupName(), role);
            for (var i : g.instances()) {
                if (refusal != null) {
                    excluded.add(excluded(region, i.instanceId(), g.autoScalingGroupName(), role, refusal));
                    continue;
                }
                asgInstance.put(i.instanceId(), i);
                groupOfInstance.put(i.instanceId(), g.autoScalingGroupName());
            }
            if (refusal == null) {
                roleByGroup.put(g.autoScalingGroupName(), role);
            }
        }

        // Ask EC2 for exactly the group members by id: cheaper for EC2 to filter than by the
        // aws:autoscaling:groupName tag, and it cannot pick up instances the groups no longer own.
        Map<String, Ec2Instance> ec2 = new HashMap<>();
        Map<String, String> pool = new HashMap<>();
        List<String> ids = new ArrayList<>(asgInstance.keySet());
        ids.sort(null);
        for (int from = 0; from < ids.size(); from += FILTER_VALUES) {
            List<String> chunk = ids.subList(from, Math.min(ids.size(), from + FILTER_VALUES));
            clients.ec2(region)
                    .describeInstancesPaginator(r -> r.filters(Filter.builder()
                                    .name("instance-id")
                                    .values(chunk)
                                    .build())
                            .maxResults(1000))
                    .reservations()
                    .forEach(res -> res.instances().forEach(i -> ec2.put(i.instanceId(), Ec2Instance.of(i, pool))));
        }

        List<DiscoveredHost> hosts = new ArrayList<>();
        for (var e : asgInstance.entrySet()) {
            String asg = groupOfInstance.get(e.getKey());
            join(
                    region,
                    asg,
                    roleByGroup.get(asg),
                    membership,
                    e.getValue(),
                    ec2.get(e.getKey()),
                    hosts,
                    excluded,
                    pool);
        }
        hosts.sort((a, b) -> a.instanceId().compareTo(b.instanceId()));
        excluded.sort((a, b) -> a.instanceId().compareTo(b.instanceId()));
        List<PoolBootFailures> bootFailures =
                bootFailures(region, membership, roleByGroup, asgInstance, groupOfInstance, ec2);
        for (ExcludedHost e : excluded) {
            LOG.warn(
                    "{}: instance {} left out of the inventory ({}): {}",
                    region,
                    e.instanceId(),
                    e.reason(),
                    e.detail());
        }
        return new RegionResult(region, hosts, excluded, bootFailures, roleByGroup.size(), skipped, clock.instant());
    }

    /**
     * Each member group's failed boot converges since its newest successful launch (an instance in service, or
     * one in any state that recorded its boot digest, since a launch that healed the pool may later leave it on
     * purpose): the instances
     * that wrote {@value #BOOT_FAILURE_TAG} on themselves, found in any state, since an abandoned instance leaves
     * the group at once but stays visible in EC2 for about an hour. A terminated instance may no longer carry its
     * group's {@code aws:autoscaling:groupName} tag (moto removes it when the instance leaves the group), so the
     * group is the one whose recorded launch template EC2 tagged the instance with ({@code aws:ec2launchtemplate:id},
     * which no user can write); a template recorded for two groups names neither. One DescribeInstances per 200
     * templates; none without member groups.
     */
    private List<PoolBootFailures> bootFailures(
            String region,
            Membership membership,
            Map<String, String> roleByGroup,
            Map<String, software.amazon.awssdk.services.autoscaling.model.Instance> asgInstance,
            Map<String, String> groupOfInstance,
            Map<String, Ec2Instance> ec2) {
        if (roleByGroup.isEmpty()) {
            return List.of();
        }
        Map<String, Instant> lastInService = new HashMap<>();
        for (var e : asgInstance.entrySet()) {
            Ec2Instance i = ec2.get(e.getKey());
            if (i != null
                    && i.launchTime() != null
                    && "InService".equals(e.getValue().lifecycleStateAsString())) {
                lastInService.merge(groupOfInstance.get(e.getKey()), i.launchTime(), (a, b) -> a.isAfter(b) ? a : b);
            }
        }
        Map<String, String> groupOfTemplate = new TreeMap<>();
        Set<String> shared = new java.util.HashSet<>();
        for (String asg : roleByGroup.keySet()) {
            String template = membership.group(asg).launchTemplateId();
            if (groupOfTemplate.putIfAbsent(template, asg) != null) {
                shared.add(template);
            }
        }
        shared.forEach(groupOfTemplate::remove);
        Map<String, Ec2Instance> failed = new HashMap<>();
        List<String> templates = new ArrayList<>(groupOfTemplate.keySet());
        for (int from = 0; from < templates.size(); from += FILTER_VALUES) {
            List<String> chunk = templates.subList(from, Math.min(templates.size(), from + FILTER_VALUES));
            clients.ec2(region)
                    .describeInstancesPaginator(r -> r.filters(
                                    Filter.builder()
                                            .name("tag:" + EC2_LAUNCH_TEMPLATE_TAG)
                                            .values(chunk)
                                            .build(),
                                    Filter.builder()
                                            .name("tag-key")
                                            .values(BOOT_FAILURE_TAG, DiscoveredHost.BOOT_DIGEST_TAG)
                                            .build())
                            .maxResults(1000))
                    .reservations()
                    .forEach(res -> res.instances().forEach(i -> failed.put(i.instanceId(), Ec2Instance.of(i, null))));
        }
        List<String> names = new ArrayList<>(roleByGroup.keySet());
        names.sort(null);
        // A launch that recorded its boot digest completed its hook CONTINUE: a success even after it left the
        // group on purpose (scale-in, replacement), so scaling in the launch that healed a pool does not bring
        // back the failures before it.
        Map<String, Ec2Instance> failures = new HashMap<>();
        Map<String, String> groupOf = new HashMap<>();
        for (Ec2Instance i : failed.values()) {
            Map<String, String> tags = i.tags();
            // The filters are the API's; the guarantee is ours.
            String asg = tags.containsKey(ASG_NAME_TAG)
                    ? tags.get(ASG_NAME_TAG)
                    : groupOfTemplate.get(tags.get(EC2_LAUNCH_TEMPLATE_TAG));
            if (asg == null || !roleByGroup.containsKey(asg)) {
                continue;
            }
            if (tags.containsKey(BOOT_FAILURE_TAG)) {
                failures.put(i.instanceId(), i);
                groupOf.put(i.instanceId(), asg);
            } else if (i.launchTime() != null
                    && DiscoveredHost.isBootDigest(tags.get(DiscoveredHost.BOOT_DIGEST_TAG))) {
                lastInService.merge(asg, i.launchTime(), (a, b) -> a.isAfter(b) ? a : b);
            }
        }
        Map<String, List<Ec2Instance>> byGroup = new TreeMap<>();
        for (Ec2Instance i : failures.values()) {
            String asg = groupOf.get(i.instanceId());
            Instant since = lastInService.get(asg);
            if (since != null && (i.launchTime() == null || !i.launchTime().isAfter(since))) {
                continue; // failed before the group's last success: not a failure in a row
            }
            byGroup.computeIfAbsent(asg, k -> new ArrayList<>()).add(i);
        }
        List<PoolBootFailures> out = new ArrayList<>();
        for (String asg : names) {
            List<Ec2Instance> list = byGroup.getOrDefault(asg, List.of());
            String reason = list.stream()
                    .max(Comparator.comparing(Ec2Instance::launchTime, Comparator.nullsFirst(Comparator.naturalOrder()))
                            .thenComparing(Ec2Instance::instanceId))
                    .map(i -> bootReason(region, asg, i))
                    .orElse(null);
            out.add(new PoolBootFailures(region, roleByGroup.get(asg), asg, list.size(), reason));
        }
        return out;
    }

    /** The reason class an instance wrote, as data: a class teleport-ha-boot could have written, or {@code invalid}. */
    private static String bootReason(String region, String asg, Ec2Instance i) {
        String value = i.tags().getOrDefault(BOOT_FAILURE_TAG, "");
        if (BOOT_REASON.matcher(value).matches()) {
            return value;
        }
        LOG.warn(
                "{}: instance {} of {} has tag {}={}, which is not a reason class teleport-ha-boot writes"
                        + " ([a-z][a-z0-9_]{0,31}): counted as invalid",
                region,
                i.instanceId(),
                Membership.quote(asg),
                BOOT_FAILURE_TAG,
                Membership.quote(value));
        return "invalid";
    }

    /**
     * One instance of a member group, as Auto Scaling and EC2 describe it, checked against the membership record:
     * added to {@code hosts}, or to {@code excluded} with why.
     */
    private static void join(
            String region,
            String asg,
            String role,
            Membership membership,
            software.amazon.awssdk.services.autoscaling.model.Instance ai,
            Ec2Instance i,
            List<DiscoveredHost> hosts,
            List<ExcludedHost> excluded,
            Map<String, String> pool) {
        String id = ai.instanceId();
        if (i == null) {
            // Listed by Auto Scaling but not (yet) visible in EC2: keep it visible, never configurable.
            hosts.add(new DiscoveredHost(
                    region,
                    role,
                    asg,
                    id,
                    ai.availabilityZone(),
                    ai.lifecycleStateAsString(),
                    ai.healthStatus(),
                    "unknown",
                    null,
                    null,
                    null,
                    null,
                    ai.instanceType(),
                    null,
                    Map.of()));
            return;
        }
        Map<String, String> tags = i.tags();
        Membership.Refusal refusal = membership.checkInstance(
                asg,
                ai.launchTemplate() == null ? null : ai.launchTemplate().launchTemplateId(),
                tags.get(EC2_LAUNCH_TEMPLATE_TAG),
                i.profileArn());
        if (refusal != null) {
            excluded.add(excluded(region, id, asg, role, refusal));
            return;
        }
        hosts.add(new DiscoveredHost(
                region,
                role,
                asg,
                id,
                i.availabilityZone() != null ? i.availabilityZone() : ai.availabilityZone(),
                shared(pool, ai.lifecycleStateAsString()),
                shared(pool, ai.healthStatus()),
                i.state(),
                i.privateIp(),
                i.publicIp(),
                i.privateDns(),
                i.publicDns(),
                i.instanceType(),
                i.imageId(),
                tags));
    }

    /**
     * One instance by id, with the same checks as {@link #discover}: its group must carry the cluster's tags and be
     * recorded for that role, and the instance must have been launched as the pool launches. For the instance
     * itself at boot ({@code inventory-service host}), which is not in service yet: only Describe calls on its own
     * group and itself, and the region's membership record.
     *
     * @return the region with that one host, or with it excluded, or with neither when no group holds it
     */
    public RegionResult discoverInstance(String region, String instanceId) {
        var found = clients.autoscaling(region)
                .describeAutoScalingInstances(r -> r.instanceIds(instanceId))
                .autoScalingInstances();
        if (found.isEmpty()) {
            return new RegionResult(region, List.of(), 0, 0, clock.instant());
        }
        var details = found.get(0);
        String asg = details.autoScalingGroupName();
        List<AutoScalingGroup> groups = clients.autoscaling(region)
                .describeAutoScalingGroups(r -> r.autoScalingGroupNames(asg))
                .autoScalingGroups();
        AutoScalingGroup g = groups.isEmpty() ? null : groups.get(0);
        String role = g == null ? null : tag(g.tags(), config.tags().role());
        if (g == null || !config.cluster().equals(tag(g.tags(), config.tags().cluster())) || !ROLES.contains(role)) {
            return new RegionResult(region, List.of(), 0, g == null ? 0 : 1, clock.instant());
        }
        Membership membership = membership(region);
        List<DiscoveredHost> hosts = new ArrayList<>();
        List<ExcludedHost> excluded = new ArrayList<>();
        Membership.Refusal refusal = membership.checkGroup(asg, role);
        if (refusal != null) {
            excluded.add(excluded(region, instanceId, asg, role, refusal));
            return new RegionResult(region, hosts, excluded, List.of(), 0, 0, clock.instant());
        }
        var ai = software.amazon.awssdk.services.autoscaling.model.Instance.builder()
                .instanceId(details.instanceId())
                .availabilityZone(details.availabilityZone())
                .lifecycleState(details.lifecycleState())
                .healthStatus(details.healthStatus())
                .launchTemplate(details.launchTemplate())
                .instanceType(details.instanceType())
                .build();
        Ec2Instance i = null;
        for (var res : clients.ec2(region)
                .describeInstances(r -> r.instanceIds(instanceId))
                .reservations()) {
            for (Instance x : res.instances()) {
                i = Ec2Instance.of(x, null);
            }
        }
        join(region, asg, role, membership, ai, i, hosts, excluded, null);
        return new RegionResult(region, hosts, excluded, List.of(), 1, 0, clock.instant());
    }

    /** The region's membership record. @throws MembershipException when it is missing or malformed */
    private Membership membership(String region) {
        String name = Membership.parameterName(MEMBERSHIP_PARAMETER, config.cluster());
        String value;
        try {
            value = clients.ssm(region)
                    .getParameter(r -> r.name(name))
                    .parameter()
                    .value();
        } catch (ParameterNotFoundException e) {
            throw new MembershipException(name, region, "does not exist, so no Auto Scaling group there can join");
        }
        return Membership.parse(name, region, config.cluster(), value);
    }

    private static ExcludedHost excluded(
            String region, String instanceId, String asg, String role, Membership.Refusal refusal) {
        return new ExcludedHost(region, instanceId, asg, role, refusal.reason(), refusal.detail());
    }

    private static String tag(List<TagDescription> tags, String key) {
        for (TagDescription t : tags) {
            if (key.equals(t.key())) {
                return t.value();
            }
        }
        return null;
    }

    /**
     * What discovery reads of an EC2 instance, taken from the SDK's model as each page of DescribeInstances arrives:
     * the model (every attribute EC2 returns, its interfaces, volumes and groups) is then garbage, so a region of
     * thousands of instances is never held as SDK objects (bench/README.md, "Memory per host").
     */
    record Ec2Instance(
            String instanceId,
            Instant launchTime,
            String availabilityZone,
            String state,
            String privateIp,
            String publicIp,
            String privateDns,
            String publicDns,
            String instanceType,
            String imageId,
            String profileArn,
            Map<String, String> tags) {

        /**
         * @param pool one string object for each distinct value seen in this discovery (zones, states, types,
         *     images, tag keys and values: the same few for thousands of instances), or {@code null}
         */
        static Ec2Instance of(Instance i, Map<String, String> pool) {
            Map<String, String> tags = new HashMap<>();
            for (Tag t : i.tags()) {
                tags.put(shared(pool, t.key()), shared(pool, t.value()));
            }
            return new Ec2Instance(
                    i.instanceId(),
                    i.launchTime(),
                    shared(pool, i.placement() == null ? null : i.placement().availabilityZone()),
                    shared(pool, i.state() == null ? "unknown" : i.state().nameAsString()),
                    blankToNull(i.privateIpAddress()),
                    blankToNull(i.publicIpAddress()),
                    blankToNull(i.privateDnsName()),
                    blankToNull(i.publicDnsName()),
                    shared(pool, i.instanceTypeAsString()),
                    shared(pool, i.imageId()),
                    shared(
                            pool,
                            i.iamInstanceProfile() == null
                                    ? null
                                    : i.iamInstanceProfile().arn()),
                    Map.copyOf(tags));
        }
    }

    /** {@code s}, or the equal string already in {@code pool} (none when {@code pool} or {@code s} is null). */
    private static String shared(Map<String, String> pool, String s) {
        if (pool == null || s == null) {
            return s;
        }
        String seen = pool.putIfAbsent(s, s);
        return seen == null ? s : seen;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
