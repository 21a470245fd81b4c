package ops.teleportha.agent.config;

import java.io.IOException;
import java.io.Reader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import ops.teleportha.agent.inventory.CaBundle;
import ops.teleportha.config.ConfigException;
import ops.teleportha.config.GoDuration;
import ops.teleportha.config.HostPort;
import ops.teleportha.config.Loopback;
import ops.teleportha.config.Section;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Reads the YAML config into an immutable {@link AgentConfig}. Every problem is reported at once, each
 * naming its key path ({@code peers.probe_interval: must be > 0}); unknown keys are errors so that a
 * typo never silently falls back to a default.
 */
public final class ConfigLoader {
    /** Files bigger than this in the source dir are rejected unread. */
    public static final long DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

    public static final String DEFAULT_TRUST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
    public static final String DEFAULT_MIN_VALIDITY = "168h";

    private final boolean checkAccounts;

    /** @param checkAccounts whether {@code tls.owner}/{@code tls.group} must exist on this host */
    public ConfigLoader(boolean checkAccounts) {
        this.checkAccounts = checkAccounts;
    }

    public AgentConfig load(Path file) throws ConfigException {
        Object root;
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            LoaderOptions opts = new LoaderOptions();
            opts.setAllowDuplicateKeys(false);
            opts.setMaxAliasesForCollections(10);
            root = new Yaml(new SafeConstructor(opts)).load(r);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of("cannot read: " + e.getMessage()));
        } catch (YAMLException e) {
            throw new ConfigException(
                    file.toString(), List.of("not valid YAML: " + e.getMessage().replace('\n', ' ')));
        }
        Section top = Section.root(root, "docs/node-agent.md", Map.of());
        AgentConfig config = new AgentConfig(
                top.value("listen_addr", "127.0.0.1:9810", HostPort::parse),
                tls(top.section("tls")),
                peers(top.section("peers")));
        top.done();
        top.throwIfProblems(file.toString());
        return config;
    }

    private TlsConfig tls(Section s) {
        boolean enabled = s.bool("enabled", true);
        Path source = s.value("source_dir", "/var/lib/node-agent/tls-incoming", ConfigLoader::absolutePath);
        Path target = s.value("target_dir", "/etc/teleport-tls", ConfigLoader::absolutePath);
        String rejectedDefault = source == null
                ? null
                : source.resolveSibling(source.getFileName() + "-rejected").toString();
        Path rejected = s.value("rejected_dir", rejectedDefault, ConfigLoader::absolutePath);
        String owner = s.value("owner", "teleport", ConfigLoader::nonEmpty);
        String group = s.value("group", "teleport", ConfigLoader::nonEmpty);
        List<String> names = s.stringList("required_names", List.of());
        Path trust = s.value("trust_bundle", DEFAULT_TRUST_BUNDLE, ConfigLoader::absolutePath);
        Duration minValidity = s.nonNegativeDuration("min_validity", DEFAULT_MIN_VALIDITY);
        Duration rescan = s.positiveDuration("rescan_interval", "30s");
        Duration settle = s.nonNegativeDuration("settle_time", "2s");
        long maxBytes = s.value("max_file_bytes", String.valueOf(DEFAULT_MAX_FILE_BYTES), ConfigLoader::positiveLong);

        Section rs = s.section("reload");
        TlsConfig.ReloadMode mode =
                rs.value("mode", "interval", v -> switch (v.trim().toLowerCase(Locale.ROOT)) {
                    case "interval" -> TlsConfig.ReloadMode.INTERVAL;
                    case "command" -> TlsConfig.ReloadMode.COMMAND;
                    default -> throw new IllegalArgumentException("must be 'interval' or 'command', not '" + v + "'");
                });
        List<String> command = rs.stringList("command", List.of("systemctl", "reload", "teleport"));
        Duration commandTimeout = rs.positiveDuration("command_timeout", "30s");
        if (mode == TlsConfig.ReloadMode.COMMAND && command.isEmpty()) {
            rs.problem("command", "must name a command when reload.mode is 'command'");
        }
        rs.done();

        Section vs = s.section("verify");
        String verifyAddrText = vs.value("addr", "127.0.0.1:3080", Function.identity());
        HostPort verifyAddr = null;
        if (verifyAddrText != null && !verifyAddrText.isBlank()) {
            verifyAddr = vs.convert("addr", verifyAddrText, HostPort::parse);
        }
        String firstName =
                names.stream().filter(n -> !n.startsWith("*.")).findFirst().orElse("");
        String serverName = vs.value("server_name", firstName, Function.identity());
        Duration verifyTimeout = vs.positiveDuration("timeout", "60s");
        Duration verifyPoll = vs.positiveDuration("poll_interval", "1s");
        vs.done();

        if (enabled) {
            if (names.isEmpty()) {
                s.problem("required_names", "must list at least one name the certificate has to cover");
            }
            for (String n : names) {
                String err = nameProblem(n);
                if (err != null) {
                    s.problem("required_names", "'" + n + "' " + err);
                }
            }
            if (source != null && target != null && (source.startsWith(target) || target.startsWith(source))) {
                s.problem("source_dir", "must not be inside tls.target_dir or contain it");
            }
            if (rejected != null && target != null && rejected.startsWith(target)) {
                s.problem("rejected_dir", "must not be inside tls.target_dir");
            }
            if (trust != null && !Files.isReadable(trust)) {
                s.problem(
                        "trust_bundle",
                        "cannot read " + trust + " (install ca-certificates or point it at your CA bundle)");
            }
            if (checkAccounts) {
                checkAccount(s, "owner", owner, false);
                checkAccount(s, "group", group, true);
            }
        }
        s.done();
        return new TlsConfig(
                enabled,
                source,
                target,
                rejected,
                owner,
                group,
                names,
                trust,
                minValidity,
                rescan,
                settle,
                maxBytes,
                new TlsConfig.Reload(mode, command, commandTimeout),
                new TlsConfig.Verify(verifyAddr, serverName, verifyTimeout, verifyPoll));
    }

    private static PeersConfig peers(Section s) {
        boolean enabled = s.bool("enabled", true);
        String selfText = s.value("self_addr", "", Function.identity());
        HostPort self =
                selfText == null || selfText.isBlank() ? null : s.convert("self_addr", selfText, HostPort::parse);
        String urlText = s.value("inventory_url", "", Function.identity());
        URI url = urlText == null || urlText.isBlank()
                ? null
                : s.convert("inventory_url", urlText, ConfigLoader::httpUri);
        String tokenText = s.value("inventory_token_file", "", Function.identity());
        Path token = tokenText == null || tokenText.isBlank()
                ? null
                : s.convert("inventory_token_file", tokenText, ConfigLoader::absolutePath);
        String caText = s.value("inventory_ca_file", "", Function.identity());
        Path ca = caText == null || caText.isBlank()
                ? null
                : s.convert("inventory_ca_file", caText, ConfigLoader::absolutePath);
        boolean allowPlaintext = s.bool("inventory_allow_plaintext", false);
        String fileText = s.value("file", "", Function.identity());
        Path file =
                fileText == null || fileText.isBlank() ? null : s.convert("file", fileText, ConfigLoader::absolutePath);
        Duration refresh = s.positiveDuration("refresh_interval", "60s");
        Duration interval = s.positiveDuration("probe_interval", "15s");
        Duration timeout = s.positiveDuration("probe_timeout", "3s");
        if (enabled) {
            if (url == null && file == null) {
                s.problem(
                        "inventory_url", "set peers.inventory_url or peers.file (or both) when peers.enabled is true");
            }
            // The inventory script's rule (TELEPORT_INVENTORY_ALLOW_PLAINTEXT): a token goes over plain http only to
            // this machine, where no network sees it.
            if (url != null
                    && url.getScheme().equals("http")
                    && token != null
                    && !Loopback.is(url.getHost())
                    && !allowPlaintext) {
                s.problem(
                        "inventory_url",
                        "'" + url + "' is plain http to a host other than this machine, so the bearer token"
                                + " (peers.inventory_token_file) would cross the network readable: use an https URL"
                                + " (peers.inventory_ca_file names the service's CA when it is a private one), or, on"
                                + " a trusted network only, set peers.inventory_allow_plaintext: true");
            }
            if (ca != null) {
                checkCaFile(s, ca, url);
            }
            if (interval != null && timeout != null && timeout.compareTo(interval) >= 0) {
                s.problem(
                        "probe_timeout",
                        "must be shorter than peers.probe_interval (" + GoDuration.format(interval) + ")");
            }
        }
        s.done();
        return new PeersConfig(enabled, self, url, token, ca, allowPlaintext, file, refresh, interval, timeout);
    }

    private static void checkCaFile(Section s, Path ca, URI url) {
        if (url == null) {
            s.problem(
                    "inventory_ca_file",
                    "is set, but there is no peers.inventory_url to trust it for: set an https peers.inventory_url"
                            + " or remove peers.inventory_ca_file");
        } else if (!url.getScheme().equals("https")) {
            s.problem(
                    "inventory_ca_file",
                    "is set, but peers.inventory_url '" + url + "' is plain http, which no CA protects: use"
                            + " https:// (the CA is then the only one trusted for it)");
        }
        try {
            CaBundle.read(ca);
        } catch (IOException e) {
            s.problem("inventory_ca_file", e.getMessage());
        }
    }

    private static void checkAccount(Section s, String key, String name, boolean group) {
        if (name == null) {
            return;
        }
        var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        try {
            if (group) {
                lookup.lookupPrincipalByGroupName(name);
            } else {
                lookup.lookupPrincipalByName(name);
            }
        } catch (UserPrincipalNotFoundException e) {
            s.problem(
                    key,
                    "no " + (group ? "group" : "user") + " named '" + name + "' on this host (create it or change tls."
                            + key + ")");
        } catch (IOException e) {
            s.problem(key, "cannot look up '" + name + "': " + e.getMessage());
        }
    }

    /** @return what is wrong with a required certificate name, or {@code null} when it is a valid DNS name or wildcard */
    public static String nameProblem(String name) {
        String n = name.startsWith("*.") ? name.substring(2) : name;
        if (n.isEmpty() || n.contains("*")) {
            return "is not a DNS name (a wildcard may only be the whole leftmost label, '*.example.com')";
        }
        if (name.startsWith("*.") && !n.contains(".")) {
            return "is a wildcard over a top-level domain, which no certificate may cover";
        }
        for (String label : n.split("\\.", -1)) {
            if (label.isEmpty() || !label.matches("[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")) {
                return "is not a DNS name";
            }
        }
        return null;
    }

    private static String nonEmpty(String v) {
        if (v.isBlank()) {
            throw new IllegalArgumentException("must not be empty");
        }
        return v.trim();
    }

    private static Path absolutePath(String v) {
        Path p = Path.of(v.trim());
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException("must be an absolute path, not '" + v + "'");
        }
        return p.normalize();
    }

    private static long positiveLong(String v) {
        long n;
        try {
            n = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("must be a whole number, not '" + v + "'");
        }
        if (n <= 0) {
            throw new IllegalArgumentException("must be > 0");
        }
        return n;
    }

    private static URI httpUri(String v) {
        try {
            URI u = new URI(v.trim());
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
                throw new IllegalArgumentException("must be an http:// or https:// URL, not '" + v + "'");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("is not a URL: " + e.getMessage());
        }
    }
}
