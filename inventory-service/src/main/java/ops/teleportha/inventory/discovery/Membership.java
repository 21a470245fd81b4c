package ops.teleportha.inventory.discovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which Auto Scaling groups are the cluster's own, as aws-pools.yml recorded them when it created them.
 *
 * <p>Tags cannot prove membership: anyone with {@code ec2:CreateTags} or {@code autoscaling:CreateOrUpdateTags}
 * can write {@code TeleportCluster} on a group or an instance, and site.yml sends every member the join token,
 * the license and the proxies' private key. So a host joins the inventory only when its group is recorded
 * here for its role, it was launched from the recorded launch template (both as Auto Scaling reports the
 * instance and as EC2's own {@code aws:ec2launchtemplate:id} tag says, which only EC2 can write), and it carries
 * the recorded instance profile (none when the record says none). Anything else is reported, never configured.
 *
 * <p>The record is one JSON document per region, in an SSM parameter ({@code /teleport/<cluster>/membership}
 * by default), written by roles/aws_pools (library/teleport_aws_membership.py):
 *
 * <pre>{"version": 1, "cluster": "...", "region": "...",
 *  "groups": [{"name": "...", "role": "auth|proxy", "launch_template_id": "lt-...", "instance_profile_arn": ""}]}</pre>
 */
public final class Membership {
    /** The version of the record's format this code reads. */
    public static final int VERSION = 1;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LAUNCH_TEMPLATE_ID = Pattern.compile("lt-[0-9a-f]{8,32}");
    private static final Pattern INSTANCE_PROFILE_ARN =
            Pattern.compile("arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[A-Za-z0-9+=,.@_/-]{1,512}");
    private static final Set<String> KEYS = Set.of("version", "cluster", "region", "groups");
    private static final Set<String> GROUP_KEYS = Set.of("name", "role", "launch_template_id", "instance_profile_arn");

    /** One recorded group. {@code instanceProfileArn} is empty when the pool's instances carry no profile. */
    public record Group(String name, String role, String launchTemplateId, String instanceProfileArn) {}

    /** Why an instance is not a member. {@code reason} is a bounded class for metrics. */
    public record Refusal(String reason, String detail) {}

    private final String parameter;
    private final Map<String, Group> byName;

    private Membership(String parameter, Map<String, Group> byName) {
        this.parameter = parameter;
        this.byName = Map.copyOf(byName);
    }

    /** The parameter name for a cluster: {@code {cluster}} in {@code template} is replaced. */
    public static String parameterName(String template, String cluster) {
        return template.replace("{cluster}", cluster);
    }

    /**
     * Parses and checks the record read from {@code parameter} in {@code region}.
     *
     * @throws MembershipException naming the parameter, the region, what is wrong and the fix
     */
    public static Membership parse(String parameter, String region, String cluster, String text) {
        List<String> problems = new ArrayList<>();
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (IOException e) {
            throw new MembershipException(parameter, region, "is not JSON");
        }
        if (root == null || !root.isObject()) {
            throw new MembershipException(parameter, region, "is not a JSON object");
        }
        unknownKeys(root, KEYS, "", problems);
        if (!root.path("version").isInt() || root.path("version").asInt() != VERSION) {
            problems.add("version must be " + VERSION);
        }
        if (!cluster.equals(root.path("cluster").asText(null))) {
            problems.add("cluster must be " + quote(cluster) + " (the record of another cluster)");
        }
        if (!region.equals(root.path("region").asText(null))) {
            problems.add("region must be " + quote(region) + " (a record copied from another region)");
        }
        Map<String, Group> byName = new HashMap<>();
        JsonNode groups = root.path("groups");
        if (!groups.isArray()) {
            problems.add("groups must be a list");
        } else {
            for (int i = 0; i < groups.size(); i++) {
                JsonNode g = groups.get(i);
                String at = "groups[" + i + "]";
                if (!g.isObject()) {
                    problems.add(at + " must be an object");
                    continue;
                }
                unknownKeys(g, GROUP_KEYS, at + ".", problems);
                String name = text(g, "name");
                String role = text(g, "role");
                String lt = text(g, "launch_template_id");
                String profile = g.has("instance_profile_arn") ? text(g, "instance_profile_arn") : "";
                if (name == null || name.isEmpty() || name.length() > 255) {
                    problems.add(at + ".name must be an Auto Scaling group name");
                }
                if (role == null || !RegionDiscoverer.ROLES.contains(role)) {
                    problems.add(at + ".role must be auth or proxy");
                }
                if (lt == null || !LAUNCH_TEMPLATE_ID.matcher(lt).matches()) {
                    problems.add(at + ".launch_template_id must be a launch template id (lt-...)");
                }
                if (profile == null
                        || !(profile.isEmpty()
                                || INSTANCE_PROFILE_ARN.matcher(profile).matches())) {
                    problems.add(at + ".instance_profile_arn must be an instance profile ARN or empty");
                }
                if (name != null && byName.put(name, new Group(name, role, lt, profile)) != null) {
                    problems.add(at + ".name names a group recorded twice");
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new MembershipException(parameter, region, String.join("; ", problems));
        }
        return new Membership(parameter, byName);
    }

    /** The recorded group of that name, if any. */
    public Group group(String asgName) {
        return byName.get(asgName);
    }

    /**
     * Whether a group that carries the cluster's tags is one of the cluster's own.
     *
     * @return {@code null} when it is, else why not
     */
    public Refusal checkGroup(String asgName, String role) {
        Group g = byName.get(asgName);
        if (g == null) {
            return new Refusal(
                    "not_a_member",
                    "its Auto Scaling group " + quote(asgName) + " carries the cluster's tags but is not in the"
                            + " membership record " + parameter + ": only groups that aws-pools.yml created join"
                            + " (run aws-pools.yml if this group is meant to be a pool)");
        }
        if (!g.role().equals(role)) {
            return new Refusal(
                    "not_a_member",
                    "its Auto Scaling group " + quote(asgName) + " is tagged role " + quote(role) + " but recorded as "
                            + g.role() + " in " + parameter);
        }
        return null;
    }

    /**
     * Whether an instance of a recorded group was launched as the pool launches its instances.
     *
     * @param asgLaunchTemplateId the launch template Auto Scaling reports for the instance ({@code null} for an
     *     attached instance)
     * @param ec2LaunchTemplateTag EC2's {@code aws:ec2launchtemplate:id} tag ({@code null} when absent)
     * @param instanceProfileArn the instance's profile ({@code null} for none)
     * @return {@code null} when it was, else why not
     */
    public Refusal checkInstance(
            String asgName, String asgLaunchTemplateId, String ec2LaunchTemplateTag, String instanceProfileArn) {
        Group g = byName.get(asgName);
        String want = g.launchTemplateId();
        if (!want.equals(asgLaunchTemplateId) || !want.equals(ec2LaunchTemplateTag)) {
            return new Refusal(
                    "not_a_member",
                    "it was not launched from the pool's launch template " + want + " (Auto Scaling reports "
                            + (asgLaunchTemplateId == null ? "none, an attached instance" : quote(asgLaunchTemplateId))
                            + ", EC2's aws:ec2launchtemplate:id tag is "
                            + (ec2LaunchTemplateTag == null ? "absent" : quote(ec2LaunchTemplateTag)) + ")");
        }
        String have = instanceProfileArn == null ? "" : instanceProfileArn;
        if (!g.instanceProfileArn().equals(have)) {
            return new Refusal(
                    "not_a_member",
                    "it carries instance profile " + (have.isEmpty() ? "none" : quote(have)) + ", not the pool's "
                            + (g.instanceProfileArn().isEmpty() ? "none" : g.instanceProfileArn()));
        }
        return null;
    }

    /** A value from AWS, quoted as JSON so that no character of it can forge a line or a field. */
    public static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String text(JsonNode node, String key) {
        JsonNode v = node.get(key);
        return v != null && v.isTextual() ? v.asText() : null;
    }

    private static void unknownKeys(JsonNode node, Set<String> known, String prefix, List<String> problems) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                problems.add("unknown key " + quote(prefix + k));
            }
        }
    }
}
