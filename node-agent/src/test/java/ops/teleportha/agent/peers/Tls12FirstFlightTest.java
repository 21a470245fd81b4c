package ops.teleportha.agent.peers;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import ops.teleportha.agent.peers.Tls12FirstFlight.Verdict;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TlsTestServer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The first-flight parser on bytes a real JSSE server sent in answer to its hello. */
class Tls12FirstFlightTest {
    static TlsTestServer.Pair rsaPair;
    static TlsTestServer.Pair ecPair;

    @BeforeAll
    static void pki() {
        TestPki pki = TestPki.create();
        TestPki.Issued rsa = pki.leaf(
                TestPki.KeyType.RSA,
                List.of("localhost"),
                java.time.Instant.now().minusSeconds(60),
                java.time.Instant.now().plusSeconds(86400));
        TestPki.Issued ec = pki.leaf(
                TestPki.KeyType.EC,
                List.of("localhost"),
                java.time.Instant.now().minusSeconds(60),
                java.time.Instant.now().plusSeconds(86400));
        rsaPair = new TlsTestServer.Pair(
                List.of(rsa.cert(), pki.intermediate.cert()), rsa.keys().getPrivate());
        ecPair = new TlsTestServer.Pair(
                List.of(ec.cert(), pki.intermediate.cert()), ec.keys().getPrivate());
    }

    /** Sends the hello and reads what the server sends until it waits for us (or closes). */
    private static byte[] answer(TlsTestServer.Pair pair, boolean requireClientCert) throws Exception {
        try (TlsTestServer server = new TlsTestServer(() -> pair, requireClientCert);
                Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            ByteBuffer hello = Tls12FirstFlight.clientHello("localhost");
            s.getOutputStream().write(hello.array(), 0, hello.limit());
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            Tls12FirstFlight parser = new Tls12FirstFlight();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) > 0) {
                got.write(buf, 0, n);
                if (parser.feed(ByteBuffer.wrap(buf, 0, n)) != Verdict.MORE) {
                    break;
                }
            }
            return got.toByteArray();
        } catch (IOException e) {
            throw new AssertionError("the test server did not answer the hello", e);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        return -1;
    }

    private static Verdict feedWhole(byte[] bytes) {
        return new Tls12FirstFlight().feed(ByteBuffer.wrap(bytes));
    }

    @Test
    void aServerThatRequiresAClientCertificateIsRecognisedWithAnRsaOrAnEcCertificate() throws Exception {
        assertThat(feedWhole(answer(rsaPair, true))).isEqualTo(Verdict.CLIENT_CERT_REQUESTED);
        assertThat(feedWhole(answer(ecPair, true))).isEqualTo(Verdict.CLIENT_CERT_REQUESTED);
    }

    @Test
    void theVerdictDoesNotDependOnHowTheBytesArriveOneAtATime() throws Exception {
        byte[] flight = answer(ecPair, true);
        Tls12FirstFlight parser = new Tls12FirstFlight();
        for (int i = 0; i < flight.length - 1; i++) {
            assertThat(parser.feed(ByteBuffer.wrap(flight, i, 1)))
                    .as("after %d bytes", i + 1)
                    .isEqualTo(Verdict.MORE);
        }
        assertThat(parser.feed(ByteBuffer.wrap(flight, flight.length - 1, 1))).isEqualTo(Verdict.CLIENT_CERT_REQUESTED);
    }

    @Test
    void aTruncatedFlightIsNeverEnough() throws Exception {
        byte[] flight = answer(ecPair, true);
        for (int cut : new int[] {0, 4, 5, 60, flight.length / 2, flight.length - 4, flight.length - 1}) {
            assertThat(feedWhole(Arrays.copyOf(flight, cut)))
                    .as("first %d bytes", cut)
                    .isEqualTo(Verdict.MORE);
        }
    }

    @Test
    void aServerThatAsksForNoCertificateIsLeftToTheFullHandshake() throws Exception {
        Tls12FirstFlight parser = new Tls12FirstFlight();
        assertThat(parser.feed(ByteBuffer.wrap(answer(ecPair, false)))).isEqualTo(Verdict.FULL_HANDSHAKE);
        assertThat(parser.why()).isEqualTo("ServerHelloDone without a CertificateRequest");
    }

    @Test
    void aCorruptedCertificateIsLeftToTheFullHandshake() throws Exception {
        byte[] flight = answer(ecPair, true);
        // Flip the leaf's SEQUENCE tag.
        byte[] der = ecPair.chain().get(0).getEncoded();
        int leaf = indexOf(flight, der);
        assertThat(leaf).as("the leaf is in the flight").isPositive();
        flight[leaf] = 0x31;
        Tls12FirstFlight parser = new Tls12FirstFlight();
        assertThat(parser.feed(ByteBuffer.wrap(flight))).isEqualTo(Verdict.FULL_HANDSHAKE);
        assertThat(parser.why()).isEqualTo("a certificate in the chain is not DER");
    }

    @Test
    void alertsPlainTextAndOversizedRecordsAreLeftToTheFullHandshake() {
        byte[] alert = {21, 3, 3, 0, 2, 2, 70}; // fatal protocol_version: a TLS 1.3-only server
        assertThat(feedWhole(alert)).isEqualTo(Verdict.FULL_HANDSHAKE);
        assertThat(feedWhole("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes())).isEqualTo(Verdict.FULL_HANDSHAKE);
        assertThat(feedWhole(new byte[] {22, 3, 3, (byte) 0x48, 1})).isEqualTo(Verdict.FULL_HANDSHAKE);
        byte[] tls13Hello = {22, 3, 3, 0, 42, 2, 0, 0, 38, 3, 4};
        assertThat(feedWhole(Arrays.copyOf(tls13Hello, 5 + 42))).isEqualTo(Verdict.FULL_HANDSHAKE);
    }

    @Test
    void theHelloOffersOnlyTls12AndCarriesTheServerName() {
        ByteBuffer hello = Tls12FirstFlight.clientHello("proxy-a.example.com");
        byte[] b = Arrays.copyOf(hello.array(), hello.limit());
        assertThat(b[0]).isEqualTo((byte) 22);
        assertThat(b[5]).as("ClientHello").isEqualTo((byte) 1);
        assertThat(new byte[] {b[9], b[10]}).as("client_version TLS 1.2").containsExactly(3, 3);
        assertThat(new String(b, java.nio.charset.StandardCharsets.US_ASCII)).contains("proxy-a.example.com");
        assertThat(((b[3] & 0xff) << 8 | (b[4] & 0xff)) + 5).as("one record").isEqualTo(b.length);
        // No supported_versions extension (43): a TLS 1.3 server must answer in TLS 1.2 or refuse.
        int p = 9 + 2 + 32;
        p += 1 + (b[p] & 0xff); // session id
        p += 2 + ((b[p] & 0xff) << 8 | (b[p + 1] & 0xff)); // cipher suites
        p += 1 + (b[p] & 0xff); // compression methods
        int end = p + 2 + ((b[p] & 0xff) << 8 | (b[p + 1] & 0xff));
        assertThat(end).isEqualTo(b.length);
        List<Integer> extensions = new java.util.ArrayList<>();
        for (p += 2; p < end; p += 4 + ((b[p + 2] & 0xff) << 8 | (b[p + 3] & 0xff))) {
            extensions.add((b[p] & 0xff) << 8 | (b[p + 1] & 0xff));
        }
        assertThat(extensions).contains(0x0000, 0x000a, 0x000d).doesNotContain(43);
        assertThat(Tls12FirstFlight.clientHello(null).limit()).isLessThan(hello.limit());
    }
}
