package ops.teleportha.agent.peers;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The cheap first look at a peer: a TLS 1.2 ClientHello, then the server's first flight read in the
 * clear. A TLS 1.2 server that wants a client certificate sends ServerHello, Certificate,
 * ServerKeyExchange, CertificateRequest and ServerHelloDone (RFC 5246 §7.3) before the client has to
 * do any cryptography. That flight, well formed, is the evidence {@code client_cert_required} stands
 * for (a TLS server presented its certificate and asked for ours), without the key shares, key
 * agreement and signature check of a full handshake, which were nine tenths of the agent's CPU
 * (bench/README.md). Teleport's peer port accepts TLS 1.2: its config comes from
 * {@code utils.TLSConfig}, MinVersion TLS 1.2, with {@code RequireAndVerifyClientCert}
 * (lib/proxy/peer/server.go).
 *
 * <p>Anything else (a server that only speaks TLS 1.3, one that asks for no certificate, an alert, bytes
 * that are not TLS) is {@link Verdict#FULL_HANDSHAKE}: the prober then runs the full JSSE handshake,
 * which classifies the peer exactly as it always has.
 *
 * <p>Not thread-safe: one instance per probe, driven by the selector thread.
 */
final class Tls12FirstFlight {
    enum Verdict {
        /** The flight is incomplete: read more. */
        MORE,
        /** ServerHello, a non-empty Certificate, CertificateRequest and ServerHelloDone, all well formed. */
        CLIENT_CERT_REQUESTED,
        /** Not the flight above: let the full handshake decide. */
        FULL_HANDSHAKE
    }

    // RFC 5246 / RFC 8446 code points.
    private static final int CONTENT_HANDSHAKE = 22;
    private static final int SERVER_HELLO = 2;
    private static final int CERTIFICATE = 11;
    private static final int SERVER_KEY_EXCHANGE = 12;
    private static final int CERTIFICATE_REQUEST = 13;
    private static final int SERVER_HELLO_DONE = 14;
    /** RFC 8446 §5.1: a record carries at most 2^14 bytes of plaintext. */
    private static final int MAX_RECORD = 1 << 14;
    /** A first flight is a few KiB; a long chain stays well under this. More is not a peer's answer. */
    private static final int MAX_FLIGHT = 64 * 1024;

    /** What Go's crypto/tls, OpenSSL and JSSE servers pick from for TLS 1.2: ECDHE first, then RSA kx. */
    private static final int[] CIPHER_SUITES = {
        0xc02b,
        0xc02f,
        0xc02c,
        0xc030,
        0xcca9,
        0xcca8, // ECDHE-{ECDSA,RSA} AES-GCM, ChaCha20-Poly1305
        0xc009,
        0xc013,
        0xc00a,
        0xc014, // ECDHE-{ECDSA,RSA} AES-CBC-SHA
        0x009c,
        0x009d,
        0x002f,
        0x0035 // RSA key exchange, GCM and CBC
    };
    /** x25519, secp256r1, secp384r1. */
    private static final int[] GROUPS = {0x001d, 0x0017, 0x0018};
    /** ECDSA, RSA-PSS, RSA PKCS#1 v1.5 with SHA-256/384/512, and Ed25519. */
    private static final int[] SIGNATURE_SCHEMES = {
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0603, 0x0806, 0x0601, 0x0807
    };

    private byte[] stream = new byte[4096];
    private int streamLen;
    private byte[] handshake = new byte[4096];
    private int handshakeLen;
    private int handshakePos;
    private int expect = SERVER_HELLO;
    private String why = "";

    /**
     * The ClientHello, in one TLS record. Its random is not secret: no key is ever derived from this
     * hello, which is never continued past the server's first flight.
     */
    static ByteBuffer clientHello(String sniHost) {
        ByteBuffer ext = ByteBuffer.allocate(512);
        if (sniHost != null) {
            byte[] name = sniHost.getBytes(StandardCharsets.US_ASCII);
            ext.putShort((short) 0x0000).putShort((short) (name.length + 5)).putShort((short) (name.length + 3));
            ext.put((byte) 0).putShort((short) name.length).put(name);
        }
        ext.putShort((short) 0x000a).putShort((short) (2 + 2 * GROUPS.length)).putShort((short) (2 * GROUPS.length));
        for (int g : GROUPS) {
            ext.putShort((short) g);
        }
        ext.putShort((short) 0x000b).putShort((short) 2).put((byte) 1).put((byte) 0); // ec_point_formats: uncompressed
        ext.putShort((short) 0x000d)
                .putShort((short) (2 + 2 * SIGNATURE_SCHEMES.length))
                .putShort((short) (2 * SIGNATURE_SCHEMES.length));
        for (int s : SIGNATURE_SCHEMES) {
            ext.putShort((short) s);
        }
        ext.putShort((short) 0x0017).putShort((short) 0); // extended_master_secret
        ext.putShort((short) 0xff01).putShort((short) 1).put((byte) 0); // renegotiation_info, empty
        ext.flip();

        byte[] random = new byte[32];
        ThreadLocalRandom.current().nextBytes(random);
        int bodyLen = 2 + 32 + 1 + 2 + 2 * CIPHER_SUITES.length + 2 + 2 + ext.remaining();
        ByteBuffer out = ByteBuffer.allocate(5 + 4 + bodyLen);
        out.put((byte) CONTENT_HANDSHAKE).putShort((short) 0x0301).putShort((short) (4 + bodyLen));
        out.put((byte) 1).put((byte) (bodyLen >>> 16)).putShort((short) bodyLen); // ClientHello
        out.putShort((short) 0x0303).put(random).put((byte) 0); // TLS 1.2, no session id
        out.putShort((short) (2 * CIPHER_SUITES.length));
        for (int c : CIPHER_SUITES) {
            out.putShort((short) c);
        }
        out.put((byte) 1).put((byte) 0); // null compression only
        out.putShort((short) ext.remaining()).put(ext);
        return out.flip();
    }

    /** Why the last verdict was {@link Verdict#FULL_HANDSHAKE}, for tests and debugging. */
    String why() {
        return why;
    }

    /** Consumes everything in {@code in} (read mode) and says whether the flight is complete. */
    Verdict feed(ByteBuffer in) {
        int n = in.remaining();
        if (streamLen + n > MAX_FLIGHT) {
            return full("more than " + MAX_FLIGHT + " bytes without ServerHelloDone");
        }
        stream = ensure(stream, streamLen + n);
        in.get(stream, streamLen, n);
        streamLen += n;
        int pos = 0;
        while (streamLen - pos >= 5) {
            int type = u8(stream, pos);
            int major = u8(stream, pos + 1);
            int length = u16(stream, pos + 3);
            if (type != CONTENT_HANDSHAKE) {
                return full("record type " + type + " (an alert, or not TLS)");
            }
            if (major != 3 || length == 0 || length > MAX_RECORD) {
                return full("not a TLS record header");
            }
            if (streamLen - pos - 5 < length) {
                break;
            }
            handshake = ensure(handshake, handshakeLen + length);
            System.arraycopy(stream, pos + 5, handshake, handshakeLen, length);
            handshakeLen += length;
            pos += 5 + length;
        }
        System.arraycopy(stream, pos, stream, 0, streamLen - pos);
        streamLen -= pos;
        return messages();
    }

    private Verdict messages() {
        while (handshakeLen - handshakePos >= 4) {
            int type = u8(handshake, handshakePos);
            int length = u24(handshake, handshakePos + 1);
            if (handshakeLen - handshakePos - 4 < length) {
                return Verdict.MORE;
            }
            int body = handshakePos + 4;
            handshakePos = body + length;
            String problem = message(type, body, length);
            if (problem != null) {
                return full(problem);
            }
            if (type == SERVER_HELLO_DONE) {
                return Verdict.CLIENT_CERT_REQUESTED;
            }
        }
        return Verdict.MORE;
    }

    /** Checks one handshake message against where the flight is; null when it fits. */
    private String message(int type, int at, int length) {
        switch (type) {
            case SERVER_HELLO -> {
                if (expect != SERVER_HELLO) {
                    return "ServerHello out of order";
                }
                if (length < 38 || u16(handshake, at) != 0x0303) {
                    return "the server did not choose TLS 1.2";
                }
                int sid = u8(handshake, at + 34);
                if (sid > 32 || length < 35 + sid + 3) {
                    return "malformed ServerHello";
                }
                int suite = u16(handshake, at + 35 + sid);
                if (!offered(suite) || u8(handshake, at + 37 + sid) != 0) {
                    return "ServerHello with a cipher suite or compression that was not offered";
                }
                expect = CERTIFICATE;
            }
            case CERTIFICATE -> {
                if (expect != CERTIFICATE) {
                    return "Certificate out of order";
                }
                if (length < 3 || u24(handshake, at) != length - 3 || length == 3) {
                    return "empty or malformed Certificate";
                }
                for (int p = at + 3, end = at + length; p < end; ) {
                    if (end - p < 3) {
                        return "malformed Certificate";
                    }
                    int certLen = u24(handshake, p);
                    if (certLen == 0 || end - p - 3 < certLen || !derSequence(p + 3, certLen)) {
                        return "a certificate in the chain is not DER";
                    }
                    p += 3 + certLen;
                }
                expect = SERVER_KEY_EXCHANGE;
            }
            case SERVER_KEY_EXCHANGE -> {
                if (expect != SERVER_KEY_EXCHANGE) {
                    return "ServerKeyExchange out of order";
                }
                expect = CERTIFICATE_REQUEST;
            }
            case CERTIFICATE_REQUEST -> {
                if (expect != SERVER_KEY_EXCHANGE && expect != CERTIFICATE_REQUEST) {
                    return "CertificateRequest out of order";
                }
                // certificate_types<1..2^8-1>, supported_signature_algorithms<2..2^16-2>,
                // certificate_authorities<0..2^16-1>
                int types = length >= 1 ? u8(handshake, at) : 0;
                int sigs = length >= 1 + types + 2 ? u16(handshake, at + 1 + types) : 0;
                int cas = length >= 1 + types + 2 + sigs + 2 ? u16(handshake, at + 3 + types + sigs) : -1;
                if (types == 0 || sigs == 0 || cas < 0 || 1 + types + 2 + sigs + 2 + cas != length) {
                    return "malformed CertificateRequest";
                }
                expect = SERVER_HELLO_DONE;
            }
            case SERVER_HELLO_DONE -> {
                if (expect != SERVER_HELLO_DONE) {
                    return "ServerHelloDone without a CertificateRequest";
                }
                if (length != 0) {
                    return "malformed ServerHelloDone";
                }
            }
            default -> {
                return "handshake message " + type + " in the server's first flight";
            }
        }
        return null;
    }

    /** A DER SEQUENCE whose encoded length is exactly {@code length}: a certificate, structurally. */
    private boolean derSequence(int at, int length) {
        if (length < 2 || u8(handshake, at) != 0x30) {
            return false;
        }
        int first = u8(handshake, at + 1);
        if (first < 0x80) {
            return 2 + first == length;
        }
        int octets = first & 0x7f;
        if (octets == 0 || octets > 3 || length < 2 + octets) {
            return false;
        }
        int content = 0;
        for (int i = 0; i < octets; i++) {
            content = (content << 8) | u8(handshake, at + 2 + i);
        }
        return 2 + octets + content == length;
    }

    private static boolean offered(int suite) {
        for (int c : CIPHER_SUITES) {
            if (c == suite) {
                return true;
            }
        }
        return false;
    }

    private Verdict full(String reason) {
        why = reason;
        return Verdict.FULL_HANDSHAKE;
    }

    private static byte[] ensure(byte[] b, int size) {
        return size <= b.length ? b : Arrays.copyOf(b, Math.max(size, 2 * b.length));
    }

    private static int u8(byte[] b, int i) {
        return b[i] & 0xff;
    }

    private static int u16(byte[] b, int i) {
        return (u8(b, i) << 8) | u8(b, i + 1);
    }

    private static int u24(byte[] b, int i) {
        return (u8(b, i) << 16) | u16(b, i + 1);
    }
}
