package ops.teleportha.agent.peers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import ops.teleportha.agent.config.PeersConfig;
import ops.teleportha.agent.inventory.InventoryClient;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.agent.testing.HttpsInventory;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.config.HostPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The peer list from a real HTTPS inventory on 127.0.0.1, trusted through peers.inventory_ca_file only. */
class InventoryOverTlsTest {
    @TempDir
    Path tmp;

    static final TestPki SERVICE_CA = TestPki.create();
    static final TestPki OTHER_CA = TestPki.create();

    CollectorRegistry registry = new CollectorRegistry();
    AgentMetrics metrics = new AgentMetrics(registry, "test", false);
    HttpsInventory inventory;
    Path token;
    Path caFile;

    @BeforeEach
    void start() throws Exception {
        inventory = new HttpsInventory(SERVICE_CA, SERVICE_CA.leaf(List.of("inventory.internal", "127.0.0.1")));
        inventory.answer(peers("198.18.1.10:3021", "198.18.2.10:3021"));
        token = Files.writeString(tmp.resolve("token"), HttpsInventory.TOKEN + "\n");
        caFile = tmp.resolve("inventory-ca.pem");
        writeCa(SERVICE_CA);
    }

    @AfterEach
    void stop() {
        inventory.close();
    }

    private static String peers(String... addrs) {
        StringBuilder b = new StringBuilder("{\"cluster\":\"c\",\"stale_regions\":[],\"peers\":[");
        for (int i = 0; i < addrs.length; i++) {
            b.append(i == 0 ? "" : ",").append("{\"addr\":\"").append(addrs[i]).append("\"}");
        }
        return b.append("]}").toString();
    }

    private void writeCa(TestPki... pkis) throws IOException {
        StringBuilder pem = new StringBuilder();
        for (TestPki p : pkis) {
            pem.append(TestPki.pem(p.root.cert()));
        }
        // Written beside and renamed, as Ansible's copy does: the reader never sees half a file.
        Path next = Files.writeString(tmp.resolve("inventory-ca.pem.new"), pem, StandardCharsets.US_ASCII);
        Files.move(next, caFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private PeerSource source(URI url, Path ca) {
        PeersConfig config = new PeersConfig(
                true,
                new HostPort("198.18.9.9", 3021),
                url,
                token,
                ca,
                false,
                null,
                Duration.ofMinutes(1),
                Duration.ofSeconds(15),
                Duration.ofSeconds(3));
        return new PeerSource(config, metrics);
    }

    private List<String> refresh(PeerSource source) {
        return source.refresh().stream().map(HostPort::toString).toList();
    }

    private double inventoryErrors() {
        Double v = registry.getSampleValue(
                "teleport_node_agent_peer_list_refresh_errors_total", new String[] {"source"}, new String[] {"inventory"
                });
        return v == null ? 0 : v;
    }

    @Test
    void fetchesThePeersFromAServiceWhoseCertificateChainsToTheCaFile() {
        PeerSource source = source(inventory.url("127.0.0.1"), caFile);

        assertThat(refresh(source)).containsExactly("198.18.1.10:3021", "198.18.2.10:3021");
        assertThat(inventoryErrors()).isZero();
        assertThat(inventory.answered()).isEqualTo(1);
    }

    @Test
    void aServiceFromAnotherCaIsRefusedAndTheLastPeersStay() throws Exception {
        PeerSource source = source(inventory.url("127.0.0.1"), caFile);
        assertThat(refresh(source)).hasSize(2);

        writeCa(OTHER_CA);
        inventory.answer(peers("198.18.3.10:3021"));

        assertThat(refresh(source))
                .as("the last list from a trusted answer")
                .containsExactly("198.18.1.10:3021", "198.18.2.10:3021");
        assertThat(inventoryErrors()).isEqualTo(1);
        assertThat(inventory.answered()).as("no request got past the handshake").isEqualTo(1);
        assertThatThrownBy(() -> new InventoryClient(inventory.url("127.0.0.1"), token, caFile).fetch())
                .isInstanceOf(IOException.class)
                .hasMessageContaining("PKIX path")
                .hasMessageContaining("a CA in peers.inventory_ca_file (" + caFile + ")");
    }

    @Test
    void onlyTheCaFileIsTrustedNotTheJvmTrustStore() throws Exception {
        // HttpsURLConnection's default factory stands for the JVM's trust store, here one that trusts the service.
        SSLSocketFactory jvmDefault = HttpsURLConnection.getDefaultSSLSocketFactory();
        HttpsURLConnection.setDefaultSSLSocketFactory(trusting(SERVICE_CA));
        try {
            assertThat(new InventoryClient(inventory.url("127.0.0.1"), token, null).fetch())
                    .as("without peers.inventory_ca_file the JVM's trust store decides")
                    .contains("198.18.1.10:3021");

            writeCa(OTHER_CA);
            assertThatThrownBy(() -> new InventoryClient(inventory.url("127.0.0.1"), token, caFile).fetch())
                    .as("with it, a CA of the JVM's store is not enough")
                    .hasMessageContaining("PKIX path");
        } finally {
            HttpsURLConnection.setDefaultSSLSocketFactory(jvmDefault);
        }
    }

    private static SSLSocketFactory trusting(TestPki pki) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setCertificateEntry("ca", pki.root.cert());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx.getSocketFactory();
    }

    @Test
    void aCertificateThatDoesNotNameTheUrlsHostIsRefused() throws Exception {
        // A DNS name and another address, but not the address the URL has.
        inventory.serve(SERVICE_CA, SERVICE_CA.leaf(List.of("localhost", "127.0.0.2")));
        PeerSource byAddress = source(inventory.url("127.0.0.1"), caFile);

        assertThat(refresh(byAddress)).isEmpty();
        assertThat(inventoryErrors()).isEqualTo(1);
        assertThatThrownBy(() -> new InventoryClient(inventory.url("127.0.0.1"), token, caFile).fetch())
                .hasMessageContaining("127.0.0.1")
                .hasMessageContaining("name 127.0.0.1 in an IP address SAN");

        assertThat(refresh(source(inventory.url("localhost"), caFile)))
                .as("the same server by the name its certificate has")
                .hasSize(2);
        assertThat(inventory.answered()).isEqualTo(1);
    }

    @Test
    void aRotatedCaFileIsTrustedFromTheNextRefreshWithoutARestart() throws Exception {
        PeerSource source = source(inventory.url("127.0.0.1"), caFile);
        assertThat(refresh(source)).hasSize(2);

        // The service moves to a certificate of the new CA before the agents trust it.
        inventory.serve(OTHER_CA, OTHER_CA.leaf(List.of("127.0.0.1")));
        inventory.answer(peers("198.18.3.10:3021"));
        assertThat(refresh(source)).hasSize(2);
        assertThat(inventoryErrors()).isEqualTo(1);

        // The overlap: both CAs in the bundle.
        writeCa(SERVICE_CA, OTHER_CA);
        assertThat(refresh(source)).containsExactly("198.18.3.10:3021");

        // The old CA leaves the bundle.
        writeCa(OTHER_CA);
        inventory.answer(peers("198.18.4.10:3021"));
        assertThat(refresh(source)).containsExactly("198.18.4.10:3021");
        assertThat(inventoryErrors()).isEqualTo(1);

        // And a service still on the old CA is no longer trusted.
        inventory.serve(SERVICE_CA, SERVICE_CA.leaf(List.of("127.0.0.1")));
        inventory.answer(peers("198.18.5.10:3021"));
        assertThat(refresh(source)).containsExactly("198.18.4.10:3021");
        assertThat(inventoryErrors()).isEqualTo(2);
    }

    @Test
    void aCaFileThatTurnsBadFailsTheRefreshInsteadOfTrustingAnythingElse() throws Exception {
        PeerSource source = source(inventory.url("127.0.0.1"), caFile);
        assertThat(refresh(source)).hasSize(2);

        Files.writeString(caFile, "-----BEGIN CERTIFICATE-----\ntruncated\n");
        inventory.answer(peers("198.18.3.10:3021"));

        assertThat(refresh(source)).containsExactly("198.18.1.10:3021", "198.18.2.10:3021");
        assertThat(inventoryErrors()).isEqualTo(1);
        assertThat(inventory.answered())
                .as("nothing was sent with the bad bundle")
                .isEqualTo(1);
        assertThatThrownBy(() -> new InventoryClient(inventory.url("127.0.0.1"), token, caFile).fetch())
                .hasMessageStartingWith("peers.inventory_ca_file: " + caFile + ": PEM does not parse");

        Files.delete(caFile);
        assertThatThrownBy(() -> new InventoryClient(inventory.url("127.0.0.1"), token, caFile).fetch())
                .hasMessage("peers.inventory_ca_file: cannot read " + caFile + ": no such file");
    }
}
