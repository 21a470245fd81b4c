package ops.teleportha.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.config.ConfigException;
import ops.teleportha.config.GoDuration;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @TempDir
    Path tmp;

    private Path write(String yaml) throws Exception {
        Files.writeString(tmp.resolve("ca.pem"), "");
        return Files.writeString(
                tmp.resolve("agent.yaml"),
                yaml.replace("CA", tmp.resolve("ca.pem").toString()));
    }

    private AgentConfig load(String yaml) throws Exception {
        return new ConfigLoader(false).load(write(yaml));
    }

    private List<String> problems(String yaml) throws Exception {
        return catchThrowableOfType(ConfigException.class, () -> load(yaml)).problems();
    }

    static final String CONTRACT = """
            listen_addr: 127.0.0.1:9810
            tls:
              enabled: true
              source_dir: /var/lib/node-agent/tls-incoming
              target_dir: /etc/teleport-tls
              owner: teleport
              group: teleport
              required_names: ["teleport.example.com", "*.teleport.example.com"]
              trust_bundle: CA
              min_validity: 168h
              rescan_interval: 30s
              reload:
                mode: interval
                command: ["systemctl", "reload", "teleport"]
              verify:
                addr: 127.0.0.1:3080
                server_name: teleport.example.com
                timeout: 60s
            peers:
              enabled: true
              self_addr: ip-198-18-1-10.ec2.internal:3021
              inventory_url: http://127.0.0.1:8790/v1/peers
              inventory_token_file: /etc/node-agent/inventory-token
              file: /etc/node-agent/peers.txt
              refresh_interval: 60s
              probe_interval: 15s
              probe_timeout: 3s
            """;

    @Test
    void loadsTheContractExample() throws Exception {
        AgentConfig c = load(CONTRACT);
        assertThat(c.listenAddr()).isEqualTo(new HostPort("127.0.0.1", 9810));
        assertThat(c.tls().minValidity()).isEqualTo(Duration.ofHours(168));
        assertThat(c.tls().requiredNames()).containsExactly("teleport.example.com", "*.teleport.example.com");
        assertThat(c.tls().rejectedDir()).isEqualTo(Path.of("/var/lib/node-agent/tls-incoming-rejected"));
        assertThat(c.tls().reload().mode()).isEqualTo(TlsConfig.ReloadMode.INTERVAL);
        assertThat(c.tls().verify().addr()).isEqualTo(new HostPort("127.0.0.1", 3080));
        assertThat(c.peers().selfAddr()).isEqualTo(new HostPort("ip-198-18-1-10.ec2.internal", 3021));
        assertThat(c.peers().probeTimeout()).isEqualTo(Duration.ofSeconds(3));
    }

    @Test
    void namesTheKeyPathOfEveryProblemAtOnce() throws Exception {
        List<String> p = problems(CONTRACT.replace("probe_interval: 15s", "probe_interval: 0s")
                .replace("min_validity: 168h", "min_validity: a week")
                .replace("mode: interval", "mode: sometimes")
                .replace("listen_addr: 127.0.0.1:9810", "listen_addr: localhost"));
        assertThat(p).anyMatch(s -> s.equals("peers.probe_interval: must be > 0"));
        assertThat(p).anyMatch(s -> s.startsWith("tls.min_validity: 'a week' is not a duration"));
        assertThat(p).anyMatch(s -> s.startsWith("tls.reload.mode: must be 'interval' or 'command'"));
        assertThat(p).anyMatch(s -> s.startsWith("listen_addr: 'localhost' must be host:port"));
    }

    @Test
    void rejectsUnknownKeysAtAnyDepth() throws Exception {
        List<String> p = problems(CONTRACT.replace("    timeout: 60s", "    timeout: 60s\n    timout: 5s")
                .replace("listen_addr:", "listen_adr: x\nlisten_addr:"));
        assertThat(p).anyMatch(s -> s.startsWith("tls.verify.timout: unknown key"));
        assertThat(p).anyMatch(s -> s.startsWith("listen_adr: unknown key"));
    }

    @Test
    void checksRelationsBetweenKeys() throws Exception {
        List<String> p = problems(CONTRACT.replace("probe_timeout: 3s", "probe_timeout: 20s")
                .replace("mode: interval", "mode: command")
                .replace("command: [\"systemctl\", \"reload\", \"teleport\"]", "command: []")
                .replace(
                        "required_names: [\"teleport.example.com\", \"*.teleport.example.com\"]",
                        "required_names: [\"*.com\"]"));
        assertThat(p).contains("peers.probe_timeout: must be shorter than peers.probe_interval (15s)");
        assertThat(p).contains("tls.reload.command: must name a command when reload.mode is 'command'");
        assertThat(p).anyMatch(s -> s.startsWith("tls.required_names: '*.com' is a wildcard over a top-level domain"));
    }

    private static String inventory(String url, String... more) {
        return """
                tls:
                  enabled: false
                peers:
                  inventory_url: %s
                """.formatted(url)
                + String.join(
                        "", List.of(more).stream().map(m -> "  " + m + "\n").toList());
    }

    private static final String TOKEN = "inventory_token_file: /etc/node-agent/inventory-token";

    @Test
    void refusesToSendTheTokenOverPlainHttpBeyondThisMachine() throws Exception {
        for (String url : List.of(
                "http://10.0.0.5:8790/v1/peers",
                "http://inventory.internal:8790/v1/peers",
                "http://127.0.0.1.example.com:8790/v1/peers",
                "http://[::ffff:127.0.0.1]:8790/v1/peers",
                "http://0.0.0.0:8790/v1/peers")) {
            assertThat(problems(inventory(url, TOKEN)))
                    .as(url)
                    .containsExactly(
                            "peers.inventory_url: '" + url + "' is plain http to a host other than this machine,"
                                    + " so the bearer token (peers.inventory_token_file) would cross the network readable: use"
                                    + " an https URL (peers.inventory_ca_file names the service's CA when it is a private one),"
                                    + " or, on a trusted network only, set peers.inventory_allow_plaintext: true");
        }
    }

    @Test
    void plainHttpIsFineOnThisMachineWithoutATokenOrWhenAllowed() throws Exception {
        for (String url : List.of(
                "http://127.0.0.1:8790/v1/peers",
                "http://127.1.2.3:8790/v1/peers",
                "http://localhost:8790/v1/peers",
                "http://LocalHost:8790/v1/peers",
                "http://[::1]:8790/v1/peers",
                "http://[0:0:0:0:0:0:0:1]:8790/v1/peers")) {
            assertThat(load(inventory(url, TOKEN)).peers().inventoryUrl()).hasToString(url);
        }
        assertThat(load(inventory("http://10.0.0.5:8790/v1/peers")).peers().inventoryTokenFile())
                .as("no token, nothing to leak")
                .isNull();
        PeersConfig allowed = load(inventory("http://10.0.0.5:8790/v1/peers", TOKEN, "inventory_allow_plaintext: true"))
                .peers();
        assertThat(allowed.inventoryAllowPlaintext()).isTrue();
        assertThat(load(inventory("https://10.0.0.5:8790/v1/peers", TOKEN))
                        .peers()
                        .inventoryAllowPlaintext())
                .isFalse();
    }

    @Test
    void checksTheInventoryCaFileWhenLoaded() throws Exception {
        TestPki pki = TestPki.create();
        Path good = pki.writeTrustBundle(tmp.resolve("inventory-ca.pem"));
        String https = "https://inventory.internal:8790/v1/peers";
        assertThat(load(inventory(https, TOKEN, "inventory_ca_file: " + good))
                        .peers()
                        .inventoryCaFile())
                .isEqualTo(good);

        Path missing = tmp.resolve("missing.pem");
        assertThat(problems(inventory(https, "inventory_ca_file: " + missing)))
                .containsExactly("peers.inventory_ca_file: cannot read " + missing + ": no such file");

        Path withKey = Files.writeString(
                tmp.resolve("with-key.pem"),
                TestPki.pem(pki.root.cert()) + TestPki.keyPem(pki.root.keys().getPrivate(), TestPki.KeyFormat.PKCS8));
        assertThat(problems(inventory(https, "inventory_ca_file: " + withKey)))
                .singleElement()
                .asString()
                .isEqualTo("peers.inventory_ca_file: " + withKey + " holds a 'PRIVATE KEY' block, but only CERTIFICATE"
                        + " blocks belong in a CA bundle (remove the key: this file is not secret)");

        Path der = Files.write(tmp.resolve("ca.der"), pki.root.cert().getEncoded());
        assertThat(problems(inventory(https, "inventory_ca_file: " + der)))
                .singleElement()
                .asString()
                .startsWith(
                        "peers.inventory_ca_file: " + der + " is binary DER, not PEM: convert it with openssl x509");

        Path empty = Files.writeString(tmp.resolve("empty.pem"), "# nothing here\n");
        assertThat(problems(inventory(https, "inventory_ca_file: " + empty)))
                .singleElement()
                .asString()
                .startsWith("peers.inventory_ca_file: " + empty + " holds no '-----BEGIN CERTIFICATE-----' block");

        assertThat(problems(inventory(https, "inventory_ca_file: inventory-ca.pem")))
                .containsExactly("peers.inventory_ca_file: must be an absolute path, not 'inventory-ca.pem'");
    }

    @Test
    void refusesAnInventoryCaFileThatProtectsNothing() throws Exception {
        Path ca = TestPki.create().writeTrustBundle(tmp.resolve("inventory-ca.pem"));
        assertThat(problems(inventory("http://127.0.0.1:8790/v1/peers", "inventory_ca_file: " + ca)))
                .containsExactly("peers.inventory_ca_file: is set, but peers.inventory_url"
                        + " 'http://127.0.0.1:8790/v1/peers' is plain http, which no CA protects: use https:// (the CA"
                        + " is then the only one trusted for it)");
        assertThat(problems("""
                        tls:
                          enabled: false
                        peers:
                          file: /etc/node-agent/peers.txt
                          inventory_ca_file: %s
                        """.formatted(ca)))
                .containsExactly("peers.inventory_ca_file: is set, but there is no peers.inventory_url to trust it"
                        + " for: set an https peers.inventory_url or remove peers.inventory_ca_file");
    }

    @Test
    void appliesDefaultsToAMinimalFile() throws Exception {
        AgentConfig c = load("""
                tls:
                  required_names: [teleport.example.com]
                  trust_bundle: CA
                peers:
                  file: /etc/node-agent/peers.txt
                """);
        assertThat(c.tls().rescanInterval()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.tls().verify().serverName()).isEqualTo("teleport.example.com");
        assertThat(c.peers().probeInterval()).isEqualTo(Duration.ofSeconds(15));
        assertThat(c.peers().selfAddr()).isNull();
    }

    @Test
    void reportsYamlSyntaxAndDuplicateKeys() throws Exception {
        assertThat(problems("tls: [unclosed")).singleElement().asString().startsWith("not valid YAML");
        assertThat(problems("listen_addr: 127.0.0.1:1\nlisten_addr: 127.0.0.1:2\n"))
                .singleElement()
                .asString()
                .contains("duplicate");
    }

    @Test
    void parsesGoDurations() {
        assertThat(GoDuration.parse("1h30m")).isEqualTo(Duration.ofMinutes(90));
        assertThat(GoDuration.parse("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(GoDuration.parse("1.5s")).isEqualTo(Duration.ofMillis(1500));
        assertThat(GoDuration.format(Duration.ofHours(168))).isEqualTo("168h");
        assertThat(GoDuration.format(Duration.ofMillis(250))).isEqualTo("250ms");
    }
}
