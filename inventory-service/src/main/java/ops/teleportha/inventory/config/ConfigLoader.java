package ops.teleportha.inventory.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import ops.teleportha.config.ConfigException;
import ops.teleportha.config.GoDuration;
import ops.teleportha.config.HostPort;
import ops.teleportha.config.Loopback;
import ops.teleportha.config.Section;

/**
 * Loads the YAML config, applies environment overrides and validates everything up front. Every
 * error names the key path, and where it came from an environment variable, that variable too.
 *
 * <p>Overrides: {@code INVENTORY_SERVICE_<PATH>} where nested keys are joined by a double
 * underscore, e.g. {@code INVENTORY_SERVICE_SERVE__LISTEN_ADDR=0.0.0.0:8790}. Values are parsed as
 * YAML, so {@code INVENTORY_SERVICE_REGIONS='[us-east-1, eu-west-1]'} works.
 */
public final class ConfigLoader {
    public static final String ENV_PREFIX = "INVENTORY_SERVICE_";
    private static final Pattern REGION = Pattern.compile("[a-z]{2}(-[a-z]+)+-\\d{1,2}");
    private static final Pattern TAG_KEY = Pattern.compile("[^\\s].{0,127}");
    private static final YAMLMapper YAML = new YAMLMapper();

    private final Map<String, String> env;

    public ConfigLoader(Map<String, String> env) {
        this.env = Map.copyOf(env);
    }

    public InventoryConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(
                    file.toString(), List.of("no such file; pass an existing config with --config FILE"));
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of("cannot read: " + e.getMessage()));
        }
        return parse(file.toString(), text);
    }

    /** @param origin where {@code yaml} came from, for messages */
    public InventoryConfig parse(String origin, String yaml) {
        Object root;
        try {
            root = yaml.isBlank() ? null : YAML.readValue(yaml, Object.class);
        } catch (JsonProcessingException e) {
            throw new ConfigException(
                    origin,
                    List.of("not valid YAML: " + e.getOriginalMessage()
                            + (e.getLocation() != null
                                    ? " (line " + e.getLocation().getLineNr() + ")"
                                    : "")));
        }
        if (root != null && !(root instanceof Map)) {
            throw new ConfigException(
                    origin, List.of("the top level must be a mapping of keys such as cluster: and regions:"));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> tree = root == null ? new LinkedHashMap<>() : (Map<String, Object>) root;
        List<String> envProblems = new ArrayList<>();
        Map<String, String> origins = applyEnv(tree, envProblems);
        Section top = Section.root(tree, "docs/inventory-service.md", origins);
        InventoryConfig config = build(top);
        List<String> problems = new ArrayList<>(envProblems);
        problems.addAll(top.problems());
        if (!problems.isEmpty()) {
            throw new ConfigException(origin, problems);
        }
        return config;
    }

    /** Writes every {@code INVENTORY_SERVICE_*} variable into the tree; returns which path each one set. */
    private Map<String, String> applyEnv(Map<String, Object> root, List<String> problems) {
        Map<String, String> origins = new TreeMap<>();
        for (var e : new TreeMap<>(env).entrySet()) {
            if (!e.getKey().startsWith(ENV_PREFIX)) {
                continue;
            }
            Object value;
            try {
                value = e.getValue().isEmpty() ? "" : YAML.readValue(e.getValue(), Object.class);
            } catch (JsonProcessingException ex) {
                problems.add(e.getKey() + ": not a valid YAML value: " + ex.getOriginalMessage());
                continue;
            }
            String[] segments = e.getKey()
                    .substring(ENV_PREFIX.length())
                    .toLowerCase(Locale.ROOT)
                    .split("__");
            Map<String, Object> node = root;
            for (int i = 0; i < segments.length - 1; i++) {
                node = child(node, segments[i]);
            }
            node.put(segments[segments.length - 1], value);
            origins.put(String.join(".", segments), e.getKey());
        }
        return origins;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> child(Map<String, Object> node, String key) {
        if (!(node.get(key) instanceof Map)) {
            node.put(key, new LinkedHashMap<String, Object>());
        }
        return (Map<String, Object>) node.get(key);
    }

    /** Reads every key, recording each problem in {@code root}; the result is only used when there were none. */
    private InventoryConfig build(Section root) {
        String cluster = root.requiredString("cluster");
        if (cluster != null && !cluster.matches("[A-Za-z0-9.-]+")) {
            root.problem(
                    "cluster",
                    "'" + cluster + "' is not a valid Teleport cluster name (letters, digits, dots, dashes)");
        }
        int before = root.problems().size();
        List<String> regions = root.stringList("regions", null);
        if (regions.isEmpty() && root.problems().size() == before) {
            root.problem("regions", "list at least one AWS region, for example [us-west-2]");
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < regions.size(); i++) {
            String r = regions.get(i);
            if (!REGION.matcher(r).matches()) {
                root.problem(
                        "regions[" + i + "]", "'" + r + "' is not an AWS region name (expected a name like us-west-2)");
            } else if (!seen.add(r)) {
                root.problem("regions[" + i + "]", "'" + r + "' is listed twice");
            }
        }

        Section tagsSec = root.section("tags");
        var tags = new InventoryConfig.Tags(
                tagKey(tagsSec, "cluster", "TeleportCluster"), tagKey(tagsSec, "role", "TeleportRole"));
        tagsSec.done();

        Section ah = root.section("ansible_host");
        AnsibleHostSource source = ah.convert("source", ah.string("source", "private_ip"), AnsibleHostSource::parse);
        Optional<String> ahTag = ah.optionalString("tag");
        if (source == AnsibleHostSource.TAG && ahTag.isEmpty()) {
            ah.problem("tag", "required when ansible_host.source is tag; name the instance tag that holds the address");
        }
        if (source != null && source != AnsibleHostSource.TAG && ahTag.isPresent()) {
            ah.problem("tag", "only used when ansible_host.source is tag; remove it or set source: tag");
        }
        ah.done();

        Template hostName =
                root.convert("host_name_template", root.string("host_name_template", "{instance_id}"), Template::parse);
        // The private IP by default: every peered VPC can route it, while an EC2 private DNS name often does
        // not resolve from another region's VPC. A template with names is for names known to resolve.
        Template peerAddr = root.convert(
                "peer_addr_template", root.string("peer_addr_template", "{private_ip}:3021"), Template::parse);
        if (peerAddr != null && !peerAddr.source().matches(".*:(\\d+|\\{[^}]+})$")) {
            root.problem(
                    "peer_addr_template",
                    "'" + peerAddr.source() + "' must end with a port, for example {private_ip}:3021");
        }

        Section awsSec = root.section("aws");
        Optional<URI> endpoint = awsSec.optionalString("endpoint_url")
                .or(() -> Optional.ofNullable(env.get("AWS_ENDPOINT_URL")).filter(s -> !s.isBlank()))
                .map(u -> awsSec.convert("endpoint_url", u, ConfigLoader::uri));
        Map<String, URI> regionEndpoints = new LinkedHashMap<>();
        Section re = awsSec.section("region_endpoints");
        for (String region : re.keys()) {
            if (!regions.contains(region)) {
                re.problem(region, "region is not in regions: " + regions + "; remove it or add the region");
            }
            String url = re.requiredString(region);
            URI u = url == null ? null : re.convert(region, url, ConfigLoader::uri);
            if (u != null) {
                regionEndpoints.put(region, u);
            }
        }
        re.done();
        Optional<String> arn = awsSec.optionalString("assume_role_arn");
        if (arn.isPresent() && !arn.get().startsWith("arn:")) {
            awsSec.problem("assume_role_arn", "'" + arn.get() + "' is not an ARN (arn:aws:iam::<account>:role/<name>)");
        }
        var aws = new InventoryConfig.Aws(
                endpoint,
                Map.copyOf(regionEndpoints),
                arn,
                awsSec.optionalString("assume_role_external_id"),
                awsSec.string("assume_role_session_name", "teleport-inventory"),
                awsSec.intInRange("max_concurrency", 4, 1, 64),
                awsSec.intInRange("max_attempts", 6, 1, 20),
                awsSec.positiveDuration("api_call_timeout", "60s"));
        awsSec.done();

        Section refreshSec = root.section("refresh");
        var refresh = new InventoryConfig.Refresh(
                refreshSec.positiveDuration("interval", "60s"), refreshSec.positiveDuration("max_staleness", "30m"));
        if (refresh.interval() != null
                && refresh.maxStaleness() != null
                && refresh.maxStaleness().compareTo(refresh.interval()) < 0) {
            refreshSec.problem(
                    "max_staleness",
                    "must be at least refresh.interval (" + GoDuration.format(refresh.interval()) + ")");
        }
        refreshSec.done();

        Section serveSec = root.section("serve");
        HostPort listen = serveSec.convert(
                "listen_addr", serveSec.string("listen_addr", "127.0.0.1:8790"), HostPort::parseListen);
        Optional<Path> tokenFile = serveSec.optionalString("token_file").map(Path::of);
        boolean tlsGiven = serveSec.keys().contains("tls");
        Optional<InventoryConfig.Tls> tls = tlsGiven ? serveTls(serveSec.section("tls")) : Optional.empty();
        if (listen != null && !Loopback.is(listen.host()) && (!tlsGiven || tokenFile.isEmpty())) {
            // The bearer token must never cross a network in clear text, and the inventory (every host's
            // addresses and tags) must not be open to whoever reaches the port.
            List<String> missing = new ArrayList<>();
            if (!tlsGiven) {
                missing.add("serve.tls");
            }
            if (tokenFile.isEmpty()) {
                missing.add("serve.token_file");
            }
            serveSec.problem(
                    "listen_addr",
                    "'" + listen + "' is not a loopback address, so serve needs serve.tls (cert_file and key_file)"
                            + " and serve.token_file; missing " + String.join(" and ", missing)
                            + ". Set them, or listen on loopback only (127.0.0.1:8790 or [::1]:8790)");
        }
        serveSec.done();

        Section na = root.section("node_agent");
        var nodeAgent = new InventoryConfig.NodeAgent(na.intInRange("metrics_port", 9810, 1, 65535));
        na.done();

        // The teleport role's diag_addr port (roles/teleport teleport_diag_addr, {private_ip}:3000).
        Section tp = root.section("teleport");
        var teleport = new InventoryConfig.Teleport(tp.intInRange("diag_port", 3000, 1, 65535));
        tp.done();

        root.done();
        return new InventoryConfig(
                cluster,
                List.copyOf(regions),
                tags,
                new InventoryConfig.AnsibleHost(source, ahTag),
                hostName,
                peerAddr,
                aws,
                refresh,
                listen == null ? null : new InventoryConfig.Serve(listen.host(), listen.port(), tokenFile, tls),
                nodeAgent,
                teleport);
    }

    /** {@code serve.tls}: both files; they are read when serve starts, not here (as serve.token_file). */
    private static Optional<InventoryConfig.Tls> serveTls(Section tlsSec) {
        String cert = tlsSec.requiredString("cert_file");
        String key = tlsSec.requiredString("key_file");
        tlsSec.done();
        return cert == null || key == null
                ? Optional.empty()
                : Optional.of(new InventoryConfig.Tls(Path.of(cert), Path.of(key)));
    }

    private static String tagKey(Section s, String key, String dflt) {
        String v = s.string(key, dflt);
        if (!TAG_KEY.matcher(v).matches()) {
            s.problem(key, "'" + v + "' is not a valid tag key (1-128 characters)");
        }
        return v;
    }

    private static URI uri(String value) {
        try {
            URI u = new URI(value);
            if (u.getScheme() == null
                    || !(u.getScheme().equals("http") || u.getScheme().equals("https"))
                    || u.getHost() == null) {
                throw new IllegalArgumentException(
                        "'" + value + "' must be an http(s) URL such as http://127.0.0.1:5000");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("'" + value + "' is not a URL: " + e.getReason());
        }
    }
}
