package ops.teleportha.agent.peers;

import java.util.Locale;

/**
 * How a probe of a peer's {@code peer_public_addr} ended. Only the first two count as up: a TLS server
 * presented its certificate, which is what Teleport's peer service does. A TCP connect alone is not up:
 * a port held open by a hung process, a firewall or a different service would pass it. Teleport's peer
 * port asks for a client certificate (mutual TLS with the cluster's host CA), which the agent does not
 * have; a server that reaches that request has completed its half of the handshake and is up.
 */
public enum ProbeOutcome {
    TLS_HANDSHAKE_OK(true),
    CLIENT_CERT_REQUIRED(true),
    DNS_FAILURE(false),
    DNS_TIMEOUT(false),
    REFUSED(false),
    UNREACHABLE(false),
    CONNECT_TIMEOUT(false),
    HANDSHAKE_TIMEOUT(false),
    CONNECTION_CLOSED(false),
    NOT_TLS(false),
    TLS_FAILURE(false),
    ERROR(false);

    private final boolean up;

    ProbeOutcome(boolean up) {
        this.up = up;
    }

    public boolean up() {
        return up;
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
