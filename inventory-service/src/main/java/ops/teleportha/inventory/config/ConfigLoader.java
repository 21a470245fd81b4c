package ops.teleportha.inventory.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
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
            throw new ConfigException(file + ": no such file; pass an existing config with --config FILE");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
        return parse(file.toString(), text);
    }

    public InventoryConfig parse(String origin, String yaml) {
        JsonNode root;
        try {
            root = yaml.isBlank() ? JsonNodeFactory.instance.objectNode() : YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw new ConfigException(origin + ": not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            root = JsonNodeFactory.instance.objectNode();
        }
        if (!root.isObject()) {
            throw new ConfigException(origin + ": the top level must be a mapping of keys such as cluster: and regions:");
        }
        Map<String, String> origins = applyEnv((ObjectNode) root);
        try {
            return build(new Section("", root, origins));
        } catch (ConfigException e) {
            throw new ConfigException(origin + ": " + e.getMessage());
        }
    }

    private Map<String, String> applyEnv(ObjectNode root) {
        Map<String, String> origins = new TreeMap<>();
        for (var e : new TreeMap<>(env).entrySet()) {
            if (!e.getKey().startsWith(ENV_PREFIX)) {
                continue;
            }
            String[] segments = e.getKey().substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).split("__");
            ObjectNode node = root;
            for (int i = 0; i < segments.length - 1; i++) {
                JsonNode child = node.get(segments[i]);
                if (child == null || !child.isObject()) {
                    child = node.putObject(segments[i]);
                }
                node = (ObjectNode) child;
            }
            JsonNode value;
            try {
                value = e.getValue().isEmpty() ? JsonNodeFactory.instance.textNode("") : YAML.readTree(e.getValue());
            } catch (JsonProcessingException ex) {
                throw new ConfigException(e.getKey() + ": not a valid YAML value: " + ex.getOriginalMessage());
            }
            node.set(segments[segments.length - 1], value == null ? JsonNodeFactory.instance.nullNode() : value);
            origins.put(String.join(".", segments), e.getKey());
        }
        return origins;
    }

    private InventoryConfig build(Section root) {
        String cluster = root.requiredString("cluster");
        if (!cluster.matches("[A-Za-z0-9.-]+")) {
            throw root.error("cluster", "'" + cluster + "' is not a valid Teleport cluster name (letters, digits, dots, dashes)");
        }
        List<String> regions = root.requiredStringList("regions");
        if (regions.isEmpty()) {
            throw root.error("regions", "list at least one AWS region, for example [us-west-2]");
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < regions.size(); i++) {
            String r = regions.get(i);
            if (!REGION.matcher(r).matches()) {
                throw root.error("regions[" + i + "]", "'" + r + "' is not an AWS region name (expected a name like us-west-2)");
            }
            if (!seen.add(r)) {
                throw root.error("regions[" + i + "]", "'" + r + "' is listed twice");
            }
        }

        Section tagsSec = root.section("tags");
        var tags = new InventoryConfig.Tags(
                tagKey(tagsSec, "cluster", "TeleportCluster"),
                tagKey(tagsSec, "role", "TeleportRole"));
        tagsSec.done();

        Section ah = root.section("ansible_host");
        AnsibleHostSource source = AnsibleHostSource.parse(ah.path("source"), ah.string("source", "private_ip"));
        Optional<String> ahTag = ah.optionalString("tag");
        if (source == AnsibleHostSource.TAG && ahTag.isEmpty()) {
            throw ah.error("tag", "required when ansible_host.source is tag; name the instance tag that holds the address");
        }
        if (source != AnsibleHostSource.TAG && ahTag.isPresent()) {
            throw ah.error("tag", "only used when ansible_host.source is tag; remove it or set source: tag");
        }
        ah.done();

        Template hostName = Template.parse(root.path("host_name_template"), root.string("host_name_template", "{instance_id}"));
        Template peerAddr = Template.parse(root.path("peer_addr_template"), root.string("peer_addr_template", "{private_dns_or_ip}:3021"));
        if (!peerAddr.source().matches(".*:(\\d+|\\{[^}]+})$")) {
            throw root.error("peer_addr_template", "'" + peerAddr.source() + "' must end with a port, for example {private_dns_or_ip}:3021");
        }

        Section awsSec = root.section("aws");
        Optional<URI> endpoint = awsSec.optionalString("endpoint_url")
                .or(() -> Optional.ofNullable(env.get("AWS_ENDPOINT_URL")).filter(s -> !s.isBlank()))
                .map(u -> uri(awsSec, "endpoint_url", u));
        Map<String, URI> regionEndpoints = new LinkedHashMap<>();
        Section re = awsSec.section("region_endpoints");
        for (String region : re.keys()) {
            if (!regions.contains(region)) {
                throw re.error(region, "region is not in regions: " + regions + "; remove it or add the region");
            }
            regionEndpoints.put(region, uri(re, region, re.requiredString(region)));
        }
        re.done();
        var aws = new InventoryConfig.Aws(
                endpoint,
                Map.copyOf(regionEndpoints),
                awsSec.optionalString("assume_role_arn").map(arn -> {
                    if (!arn.startsWith("arn:")) {
                        throw awsSec.error("assume_role_arn", "'" + arn + "' is not an ARN (arn:aws:iam::<account>:role/<name>)");
                    }
                    return arn;
                }),
                awsSec.optionalString("assume_role_external_id"),
                awsSec.string("assume_role_session_name", "teleport-inventory"),
                awsSec.intInRange("max_concurrency", 4, 1, 64),
                awsSec.intInRange("max_attempts", 6, 1, 20),
                awsSec.positiveDuration("api_call_timeout", "60s"));
        awsSec.done();

        Section refreshSec = root.section("refresh");
        var refresh = new InventoryConfig.Refresh(
                refreshSec.positiveDuration("interval", "60s"),
                refreshSec.positiveDuration("max_staleness", "30m"));
        if (refresh.maxStaleness().compareTo(refresh.interval()) < 0) {
            throw refreshSec.error("max_staleness", "must be at least refresh.interval (" + Duration2.format(refresh.interval()) + ")");
        }
        refreshSec.done();

        Section serveSec = root.section("serve");
        String listen = serveSec.string("listen_addr", "127.0.0.1:8790");
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) {
            throw serveSec.error("listen_addr", "'" + listen + "' must be host:port, for example 127.0.0.1:8790");
        }
        String host = listen.substring(0, colon).replaceAll("^\\[|]$", "");
        int port = parsePort(serveSec, "listen_addr", listen.substring(colon + 1), true);
        Optional<Path> tokenFile = serveSec.optionalString("token_file").map(Path::of);
        serveSec.done();

        Section na = root.section("node_agent");
        var nodeAgent = new InventoryConfig.NodeAgent(na.intInRange("metrics_port", 9810, 1, 65535));
        na.done();

        root.done();
        return new InventoryConfig(cluster, List.copyOf(regions), tags,
                new InventoryConfig.AnsibleHost(source, ahTag), hostName, peerAddr, aws, refresh,
                new InventoryConfig.Serve(host, port, tokenFile), nodeAgent);
    }

    private static String tagKey(Section s, String key, String dflt) {
        String v = s.string(key, dflt);
        if (!TAG_KEY.matcher(v).matches()) {
            throw s.error(key, "'" + v + "' is not a valid tag key (1-128 characters)");
        }
        return v;
    }

    private static URI uri(Section s, String key, String value) {
        try {
            URI u = new URI(value);
            if (u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https")) || u.getHost() == null) {
                throw s.error(key, "'" + value + "' must be an http(s) URL such as http://127.0.0.1:5000");
            }
            return u;
        } catch (URISyntaxException e) {
            throw s.error(key, "'" + value + "' is not a URL: " + e.getReason());
        }
    }

    private static int parsePort(Section s, String key, String text, boolean allowZero) {
        try {
            int p = Integer.parseInt(text);
            if (p < (allowZero ? 0 : 1) || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw s.error(key, "port '" + text + "' must be a number from " + (allowZero ? 0 : 1) + " to 65535");
        }
    }

    /** One mapping in the YAML tree; remembers which keys were read so leftovers are reported. */
    private static final class Section {
        private final String prefix;
        private final JsonNode node;
        private final Map<String, String> envOrigins;
        private final Set<String> read = new HashSet<>();

        Section(String prefix, JsonNode node, Map<String, String> envOrigins) {
            this.prefix = prefix;
            this.node = node;
            this.envOrigins = envOrigins;
        }

        String path(String key) {
            return prefix.isEmpty() ? key : prefix + "." + key;
        }

        ConfigException error(String key, String message) {
            String p = path(key);
            String origin = envOrigins.entrySet().stream()
                    .filter(e -> p.equals(e.getKey()) || p.startsWith(e.getKey() + ".") || p.startsWith(e.getKey() + "["))
                    .map(e -> " (set by environment variable " + e.getValue() + ")")
                    .findFirst().orElse("");
            return new ConfigException(p + ": " + message + origin);
        }

        private JsonNode get(String key) {
            read.add(key);
            JsonNode v = node == null ? null : node.get(key);
            return v == null || v.isNull() ? null : v;
        }

        List<String> keys() {
            List<String> keys = new ArrayList<>();
            if (node != null) {
                node.fieldNames().forEachRemaining(keys::add);
            }
            return keys;
        }

        Section section(String key) {
            JsonNode v = get(key);
            if (v != null && !v.isObject()) {
                throw error(key, "must be a mapping of keys");
            }
            return new Section(path(key), v, envOrigins);
        }

        Optional<String> optionalString(String key) {
            JsonNode v = get(key);
            if (v == null) {
                return Optional.empty();
            }
            if (!v.isValueNode() || v.isBoolean()) {
                throw error(key, "must be a string");
            }
            return Optional.of(v.asText().trim()).filter(s -> !s.isEmpty());
        }

        String string(String key, String dflt) {
            return optionalString(key).orElse(dflt);
        }

        String requiredString(String key) {
            return optionalString(key).orElseThrow(() -> error(key, "is required"));
        }

        List<String> requiredStringList(String key) {
            JsonNode v = get(key);
            if (v == null) {
                throw error(key, "is required");
            }
            if (!v.isArray()) {
                throw error(key, "must be a list, for example [us-west-2, eu-central-1]");
            }
            List<String> out = new ArrayList<>();
            for (int i = 0; i < v.size(); i++) {
                JsonNode item = v.get(i);
                if (item == null || !item.isTextual() || item.asText().isBlank()) {
                    throw error(key + "[" + i + "]", "must be a non-empty string");
                }
                out.add(item.asText().trim());
            }
            return out;
        }

        int intInRange(String key, int dflt, int min, int max) {
            JsonNode v = get(key);
            if (v == null) {
                return dflt;
            }
            if (!v.canConvertToInt() || !(v.isIntegralNumber() || v.asText().matches("-?\\d+"))) {
                throw error(key, "must be a whole number from " + min + " to " + max);
            }
            int n = v.isIntegralNumber() ? v.intValue() : Integer.parseInt(v.asText());
            if (n < min || n > max) {
                throw error(key, "must be from " + min + " to " + max + ", got " + n);
            }
            return n;
        }

        Duration positiveDuration(String key, String dflt) {
            JsonNode v = get(key);
            Duration d;
            try {
                d = Duration2.parse(v == null ? dflt : v.asText());
            } catch (IllegalArgumentException e) {
                throw error(key, e.getMessage());
            }
            if (d.isZero()) {
                throw error(key, "must be > 0");
            }
            return d;
        }

        void done() {
            if (node == null) {
                return;
            }
            for (String k : keys()) {
                if (!read.contains(k)) {
                    throw error(k, "unknown key; check the spelling against the README's configuration reference");
                }
            }
        }
    }
}
