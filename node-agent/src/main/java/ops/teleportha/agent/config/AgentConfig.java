package ops.teleportha.agent.config;

/** The whole agent configuration, validated when loaded by {@link ConfigLoader}. */
public record AgentConfig(HostPort listenAddr, TlsConfig tls, PeersConfig peers) {}
