package ops.teleportha.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
