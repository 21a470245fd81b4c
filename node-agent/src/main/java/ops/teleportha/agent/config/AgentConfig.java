package ops.teleportha.agent.config;

import ops.teleportha.config.HostPort;

/** The whole agent configuration, validated when loaded by {@link ConfigLoader}. */
public record AgentConfig(HostPort listenAddr, TlsConfig tls, PeersConfig peers) {}
