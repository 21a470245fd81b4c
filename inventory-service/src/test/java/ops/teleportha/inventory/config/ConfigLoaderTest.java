package ops.teleportha.inventory.config;

import static org.assertj.core.api.Assertions.as;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import ops.teleportha.config.ConfigException;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigLoaderTest {
    private static final String MINIMAL = "cluster: teleport.example.com\nregions: [us-west-2, eu-central-1]\n";

    private static InventoryConfig parse(String yaml) {
        return new ConfigLoader(Map.of()).parse("test.yml", yaml);
    }

    private static void rejects(String yaml, String message) {
        assertThatThrownBy(() -> parse(yaml))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(message);
    }

    @Test
    void theSmallestFileGetsProductionDefaults() {
        InventoryConfig c = parse(MINIMAL);
        assertThat(c.cluster()).isEqualTo("teleport.example.com");
        assertThat(c.regions()).containsExactly("us-west-2", "eu-central-1");
        assertThat(c.tags().cluster()).isEqualTo("TeleportCluster");
        assertThat(c.tags().role()).isEqualTo("TeleportRole");
        assertThat(c.ansibleHost().source()).isEqualTo(AnsibleHostSource.PRIVATE_IP);
        assertThat(c.hostNameTemplate().source()).isEqualTo("{instance_id}");
        assertThat(c.peerAddrTemplate().source()).isEqualTo("{private_ip}:3021");
        assertThat(c.serve().listenHost()).isEqualTo("127.0.0.1");
        assertThat(c.serve().listenPort()).isEqualTo(8790);
        assertThat(c.serve().tokenFile()).isEmpty();
        assertThat(c.refresh().interval()).isEqualTo(Duration.ofSeconds(60));
        assertThat(c.refresh().maxStaleness()).isEqualTo(Duration.ofMinutes(30));
        assertThat(c.aws().endpointUrl()).isEmpty();
        assertThat(c.aws().maxAttempts()).isEqualTo(6);
        assertThat(c.nodeAgent().metricsPort()).isEqualTo(9810);
        assertThat(c.teleport().diagPort()).isEqualTo(3000);
    }

    @Test
    void unknownKeysAreRejectedWithTheirPath() {
        rejects(MINIMAL + "serve:\n  listen_adr: 0.0.0.0:1\n", "test.yml: serve.listen_adr: unknown key");
        rejects(MINIMAL + "regoins: [us-east-1]\n", "regoins: unknown key");
    }

    @Test
    void requiredKeysAreNamed() {
        rejects("regions: [us-west-2]\n", "cluster: is required");
        rejects("cluster: a.example.com\n", "regions: is required");
        rejects("cluster: a.example.com\nregions: []\n", "regions: list at least one AWS region");
        rejects("", "cluster: is required");
    }

    @Test
    void badRegionNamesAreRejected() {
        rejects("cluster: c\nregions: [us-west-2, uswest2]\n", "regions[1]: 'uswest2' is not an AWS region name");
        rejects("cluster: c\nregions: [us-west-2, us-west-2]\n", "regions[1]: 'us-west-2' is listed twice");
        rejects("cluster: c\nregions: us-west-2\n", "regions: must be a list");
        assertThat(parse("cluster: c\nregions: [us-gov-west-1, ap-southeast-4, il-central-1]\n")
                        .regions())
                .hasSize(3);
    }

    @Test
    void badTemplatesFailAtLoadTime() {
        rejects(
                MINIMAL + "peer_addr_template: '{private_adress}:3021'\n",
                "peer_addr_template: unknown placeholder {private_adress}");
        rejects(MINIMAL + "host_name_template: '{instance_id'\n", "host_name_template: unclosed '{'");
        rejects(
                MINIMAL + "peer_addr_template: '{private_ip}'\n",
                "peer_addr_template: '{private_ip}' must end with a port");
        assertThat(parse(MINIMAL + "peer_addr_template: '{tag:PeerName}.internal:3021'\n")
                        .peerAddrTemplate()
                        .source())
                .isEqualTo("{tag:PeerName}.internal:3021");
    }

    @Test
    void ansibleHostFromATagNeedsTheTagName() {
        rejects(
                MINIMAL + "ansible_host:\n  source: tag\n",
                "ansible_host.tag: required when ansible_host.source is tag");
        rejects(
                MINIMAL + "ansible_host:\n  source: private_ipv4\n",
                "ansible_host.source: 'private_ipv4' is not one of private_ip, public_ip");
        rejects(MINIMAL + "ansible_host:\n  source: public_ip\n  tag: Name\n", "ansible_host.tag: only used when");
        assertThat(parse(MINIMAL + "ansible_host:\n  source: tag\n  tag: SshAddress\n")
                        .ansibleHost()
                        .tag())
                .contains("SshAddress");
    }

    @Test
    void valuesAreRangeChecked() {
        rejects(MINIMAL + "refresh:\n  interval: 0s\n", "refresh.interval: must be > 0");
        rejects(MINIMAL + "refresh:\n  interval: 10 minutes\n", "refresh.interval: '10 minutes' is not a duration");
        rejects(
                MINIMAL + "refresh:\n  interval: 10m\n  max_staleness: 5m\n",
                "refresh.max_staleness: must be at least refresh.interval (10m)");
        rejects(MINIMAL + "aws:\n  max_concurrency: 0\n", "aws.max_concurrency: must be from 1 to 64, got 0");
        rejects(MINIMAL + "teleport:\n  diag_port: 70000\n", "teleport.diag_port: must be from 1 to 65535, got 70000");
        rejects(MINIMAL + "teleport:\n  diag_addr: 127.0.0.1:3000\n", "teleport.diag_addr: unknown key");
        rejects(MINIMAL + "aws:\n  max_attempts: many\n", "aws.max_attempts: must be a whole number");
        rejects(MINIMAL + "serve:\n  listen_addr: 8790\n", "serve.listen_addr: '8790' must be host:port");
        rejects(
                MINIMAL + "serve:\n  listen_addr: 127.0.0.1:99999\n",
                "serve.listen_addr: port '99999' must be a number from 0 to 65535");
        rejects(
                MINIMAL + "aws:\n  endpoint_url: localhost:5000\n",
                "aws.endpoint_url: 'localhost:5000' must be an http(s) URL");
        rejects(
                MINIMAL + "aws:\n  assume_role_arn: teleport-inventory\n",
                "aws.assume_role_arn: 'teleport-inventory' is not an ARN");
        rejects(
                MINIMAL + "aws:\n  region_endpoints:\n    ap-south-1: http://127.0.0.1:1\n",
                "aws.region_endpoints.ap-south-1: region is not in regions");
        rejects("cluster: [a]\nregions: [us-west-2]\n", "cluster: must be a string");
        rejects(
                "cluster: 'bad name!'\nregions: [us-west-2]\n",
                "cluster: 'bad name!' is not a valid Teleport cluster name");
    }

    @Test
    void everyProblemIsReportedAtOnceEachNamingItsPath() {
        ConfigException e = catchThrowableOfType(ConfigException.class, () -> parse("""
                cluster: 'bad name!'
                regions: [us-west-2, uswest2]
                refresh:
                  interval: 0s
                serve:
                  listen_addr: 8790
                  listen_adr: x
                peer_addr_template: '{private_ip}'
                """));
        assertThat(e.origin()).isEqualTo("test.yml");
        assertThat(e.problems())
                .containsExactly(
                        "cluster: 'bad name!' is not a valid Teleport cluster name (letters, digits, dots, dashes)",
                        "regions[1]: 'uswest2' is not an AWS region name (expected a name like us-west-2)",
                        "peer_addr_template: '{private_ip}' must end with a port, for example {private_ip}:3021",
                        "refresh.interval: must be > 0",
                        "serve.listen_addr: '8790' must be host:port, such as 127.0.0.1:8080 or [::1]:8080",
                        "serve.listen_adr: unknown key; check the spelling against docs/inventory-service.md");
        assertThat(e.getMessage().lines()).allMatch(l -> l.startsWith("test.yml: "));
    }

    @Test
    void listenAddressesTakeBracketedIpv6AndPortZero() {
        InventoryConfig c = parse(MINIMAL + "serve:\n  listen_addr: '[::1]:0'\n");
        assertThat(c.serve().listenHost()).isEqualTo("::1");
        assertThat(c.serve().listenPort()).isZero();
    }

    @Test
    void tlsNamesACertificateAndAKeyFile() {
        InventoryConfig c =
                parse(MINIMAL + "serve:\n  tls:\n    cert_file: /etc/i/tls.crt\n    key_file: /etc/i/tls.key\n");
        assertThat(c.serve().tls())
                .contains(new InventoryConfig.Tls(Path.of("/etc/i/tls.crt"), Path.of("/etc/i/tls.key")));
        assertThat(parse(MINIMAL).serve().tls()).isEmpty();
        rejects(MINIMAL + "serve:\n  tls:\n    cert_file: /etc/i/tls.crt\n", "serve.tls.key_file: is required");
        rejects(MINIMAL + "serve:\n  tls:\n    key_file: /etc/i/tls.key\n", "serve.tls.cert_file: is required");
        rejects(
                MINIMAL + "serve:\n  tls:\n    cert_file: a\n    key_file: b\n    client_ca_file: c\n",
                "serve.tls.client_ca_file: unknown key");
        rejects(MINIMAL + "serve:\n  tls: /etc/i/tls.pem\n", "serve.tls: must be a mapping");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "0.0.0.0:8790",
                "'[::]:8790'",
                "10.0.0.5:8790",
                "198.18.1.1:8790",
                "inventory.internal:8790",
                "127.example.com:8790",
                "'[fe80::1]:8790'"
            })
    void aListenerBeyondLoopbackIsRefusedWithoutTlsAndAToken(String addr) {
        String tls = "  tls:\n    cert_file: /etc/i/tls.crt\n    key_file: /etc/i/tls.key\n";
        String token = "  token_file: /etc/i/token\n";
        ConfigException neither = catchThrowableOfType(
                ConfigException.class, () -> parse(MINIMAL + "serve:\n  listen_addr: " + addr + "\n"));
        assertThat(neither.problems())
                .singleElement(as(InstanceOfAssertFactories.STRING))
                .startsWith("serve.listen_addr: ")
                .contains("is not a loopback address, so serve needs serve.tls (cert_file and key_file)"
                        + " and serve.token_file; missing serve.tls and serve.token_file")
                .endsWith("Set them, or listen on loopback only (127.0.0.1:8790 or [::1]:8790)");
        rejects(MINIMAL + "serve:\n  listen_addr: " + addr + "\n" + token, "missing serve.tls. Set them");
        rejects(MINIMAL + "serve:\n  listen_addr: " + addr + "\n" + tls, "missing serve.token_file. Set them");
        assertThat(parse(MINIMAL + "serve:\n  listen_addr: " + addr + "\n" + tls + token)
                        .serve()
                        .loopback())
                .isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1:8790", "127.1.2.3:0", "'[::1]:8790'", "localhost:8790", "'[0:0:0:0:0:0:0:1]:1'"})
    void loopbackListenersNeedNeitherTlsNorAToken(String addr) {
        InventoryConfig c = parse(MINIMAL + "serve:\n  listen_addr: " + addr + "\n");
        assertThat(c.serve().loopback()).isTrue();
        assertThat(c.serve().tls()).isEmpty();
        assertThat(c.serve().tokenFile()).isEmpty();
    }

    @Test
    void theRefusalNamesTheEnvironmentVariableThatOpenedTheListener() {
        assertThatThrownBy(() -> new ConfigLoader(Map.of("INVENTORY_SERVICE_SERVE__LISTEN_ADDR", "0.0.0.0:8790"))
                        .parse("f.yml", MINIMAL))
                .hasMessageContaining("f.yml: serve.listen_addr: '0.0.0.0:8790' is not a loopback address")
                .hasMessageContaining("(set by environment variable INVENTORY_SERVICE_SERVE__LISTEN_ADDR)");
    }

    @Test
    void invalidYamlNamesTheFileAndLine() {
        rejects("cluster: c\nregions: [us-west-2\n", "test.yml: not valid YAML");
        rejects("- a\n- b\n", "the top level must be a mapping");
    }

    @Test
    void environmentOverridesWinAndAreNamedInErrors() {
        var env = Map.of(
                "INVENTORY_SERVICE_SERVE__LISTEN_ADDR", "0.0.0.0:9000",
                "INVENTORY_SERVICE_SERVE__TOKEN_FILE", "/etc/inventory-service/token",
                "INVENTORY_SERVICE_SERVE__TLS", "{cert_file: /etc/inventory-service/tls.crt, key_file: /k}",
                "INVENTORY_SERVICE_REGIONS", "[us-east-1]",
                "AWS_ENDPOINT_URL", "http://127.0.0.1:5000",
                "UNRELATED", "x");
        InventoryConfig c = new ConfigLoader(env).parse("f.yml", MINIMAL);
        assertThat(c.serve().listenHost()).isEqualTo("0.0.0.0");
        assertThat(c.serve().listenPort()).isEqualTo(9000);
        assertThat(c.regions()).containsExactly("us-east-1");
        assertThat(c.aws().endpointUrl()).contains(URI.create("http://127.0.0.1:5000"));
        assertThat(c.aws().endpointFor("us-east-1")).contains(URI.create("http://127.0.0.1:5000"));

        assertThatThrownBy(() ->
                        new ConfigLoader(Map.of("INVENTORY_SERVICE_SERVE__LISTEN_PORT", "1")).parse("f.yml", MINIMAL))
                .hasMessageContaining("serve.listen_port: unknown key")
                .hasMessageContaining("(set by environment variable INVENTORY_SERVICE_SERVE__LISTEN_PORT)");
    }

    @Test
    void aRegionEndpointOverridesTheGlobalOne() {
        InventoryConfig c = parse(
                MINIMAL
                        + "aws:\n  endpoint_url: http://127.0.0.1:5000\n  region_endpoints:\n    eu-central-1: https://vpce.example:443\n");
        assertThat(c.aws().endpointFor("eu-central-1")).contains(URI.create("https://vpce.example:443"));
        assertThat(c.aws().endpointFor("us-west-2")).contains(URI.create("http://127.0.0.1:5000"));
    }

    @Test
    void aMissingFileSaysHowToFixIt(@TempDir Path dir) {
        assertThatThrownBy(() -> new ConfigLoader(Map.of()).load(dir.resolve("nope.yml")))
                .hasMessageContaining("nope.yml: no such file; pass an existing config with --config FILE");
    }

    @Test
    void loadsFromAFile(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("c.yml"), MINIMAL);
        assertThat(new ConfigLoader(Map.of()).load(f).regions()).hasSize(2);
    }
}
