// Package config is the test double's model of teleport.yaml (version v3).
//
// The key names and types mirror the yaml tags of Teleport's own file
// configuration (lib/config/fileconf.go) and its configuration reference. A key
// that Teleport does not know is rejected with its full path, as Teleport
// rejects it (Teleport parses with yaml.UnmarshalStrict). Only sections our
// deployment renders are modelled in depth; the other top-level service
// sections are accepted as opaque so that a config Teleport accepts is not
// refused here.
//
// Teleport checks a file in two stages and so does the double:
//   - Parse (parse.go, parsecheck.go) is lib/config.ReadConfig: strict YAML
//     plus the checks done by custom UnmarshalYAML methods. It is all that
//     `teleport configure --test` runs.
//   - Apply (apply.go) is lib/config.ApplyFileConfig, run by `teleport start`
//     only: addresses, tokens, log settings, key pair files and the like.
package config

import "time"

// File is the whole teleport.yaml.
type File struct {
	Version  string  `yaml:"version"`
	Teleport Global  `yaml:"teleport"`
	Auth     Auth    `yaml:"auth_service"`
	SSH      SSH     `yaml:"ssh_service"`
	Proxy    Proxy   `yaml:"proxy_service"`
	Kube     Opaque  `yaml:"kubernetes_service"`
	Apps     Opaque  `yaml:"app_service"`
	DB       Opaque  `yaml:"db_service"`
	Metrics  Opaque  `yaml:"metrics_service"`
	Debug    Service `yaml:"debug_service"`
	Windows  Opaque  `yaml:"windows_desktop_service"`
	Tracing  Opaque  `yaml:"tracing_service"`
	Discover Opaque  `yaml:"discovery_service"`
	Okta     Opaque  `yaml:"okta_service"`
	Jamf     Opaque  `yaml:"jamf_service"`
	Plugins  Opaque  `yaml:"plugin_service"`
	Graph    Opaque  `yaml:"access_graph"`
}

// Opaque is a section the double does not model; any content is accepted.
type Opaque map[string]any

// Global is the "teleport" section.
type Global struct {
	NodeName     string           `yaml:"nodename"`
	DataDir      string           `yaml:"data_dir"`
	PIDFile      string           `yaml:"pid_file"`
	JoinParams   JoinParams       `yaml:"join_params"`
	AuthServers  []string         `yaml:"auth_servers"` // v1/v2 only
	AuthToken    string           `yaml:"auth_token"`
	AuthServer   string           `yaml:"auth_server"`  // v3
	ProxyServer  string           `yaml:"proxy_server"` // v3
	Limits       ConnectionLimits `yaml:"connection_limits"`
	Log          Log              `yaml:"log"`
	Storage      Storage          `yaml:"storage"`
	AdvertiseIP  string           `yaml:"advertise_ip"`
	Cache        Cache            `yaml:"cache"`
	CipherSuites []string         `yaml:"ciphersuites"`
	Ciphers      []string         `yaml:"ciphers"`
	KEXAlgos     []string         `yaml:"kex_algos"`
	MACAlgos     []string         `yaml:"mac_algos"`
	CASigAlgo    string           `yaml:"ca_signature_algo"`
	CAPin        Strings          `yaml:"ca_pin"`
	DiagAddr     string           `yaml:"diag_addr"`
}

// JoinParams is teleport.join_params.
type JoinParams struct {
	TokenName string `yaml:"token_name"`
	Method    string `yaml:"method"`
	Azure     struct {
		ClientID string `yaml:"client_id"`
	} `yaml:"azure"`
}

// ConnectionLimits is teleport.connection_limits.
type ConnectionLimits struct {
	MaxConnections int64 `yaml:"max_connections"`
	MaxUsers       int   `yaml:"max_users"`
	Rates          []struct {
		Period  time.Duration `yaml:"period"`
		Average int64         `yaml:"average"`
		Burst   int64         `yaml:"burst"`
	} `yaml:"rates"`
}

// Log is teleport.log.
type Log struct {
	Output   string `yaml:"output"`
	Severity string `yaml:"severity"`
	Format   struct {
		Output      string   `yaml:"output"`
		ExtraFields []string `yaml:"extra_fields"`
	} `yaml:"format"`
}

// Cache is teleport.cache.
type Cache struct {
	Type       string        `yaml:"type"`
	Enabled    string        `yaml:"enabled"`
	TTL        string        `yaml:"ttl"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Storage is teleport.storage: a type plus backend parameters. Teleport keeps
// the parameters as an inline map that each backend decodes; the double checks
// them per backend type in Validate.
type Storage struct {
	Type   string         `yaml:"type"`
	Params map[string]any `yaml:",inline"`
}

// Service holds the keys every *_service section has.
type Service struct {
	Enabled    string `yaml:"enabled"`
	ListenAddr string `yaml:"listen_addr"`
}

// Auth is auth_service.
type Auth struct {
	Service                  `yaml:",inline"`
	ProxyProtocol            string          `yaml:"proxy_protocol"`
	ClusterName              string          `yaml:"cluster_name"`
	Tokens                   []string        `yaml:"tokens"`
	Authentication           *Opaque         `yaml:"authentication"`
	SessionRecording         string          `yaml:"session_recording"`
	ProxyChecksHostKeys      *string         `yaml:"proxy_checks_host_keys"`
	LicenseFile              string          `yaml:"license_file"`
	ReverseTunnels           []Opaque        `yaml:"reverse_tunnels"`
	PublicAddr               Strings         `yaml:"public_addr"`
	ClientIdleTimeout        string          `yaml:"client_idle_timeout"`
	DisconnectExpiredCert    *string         `yaml:"disconnect_expired_cert"`
	SessionControlTimeout    string          `yaml:"session_control_timeout"`
	KubeconfigFile           string          `yaml:"kubeconfig_file"`
	KeepAliveInterval        string          `yaml:"keep_alive_interval"`
	KeepAliveCountMax        int64           `yaml:"keep_alive_count_max"`
	ClientIdleTimeoutMessage string          `yaml:"client_idle_timeout_message"`
	MessageOfTheDay          string          `yaml:"message_of_the_day"`
	WebIdleTimeout           string          `yaml:"web_idle_timeout"`
	CAKeyParams              *Opaque         `yaml:"ca_key_params"`
	ProxyListenerMode        string          `yaml:"proxy_listener_mode"`
	RoutingStrategy          string          `yaml:"routing_strategy"`
	TunnelStrategy           *TunnelStrategy `yaml:"tunnel_strategy"`
	ProxyPingInterval        string          `yaml:"proxy_ping_interval"`
	CaseInsensitiveRouting   bool            `yaml:"case_insensitive_routing"`
	SSHDialTimeout           string          `yaml:"ssh_dial_timeout"`
	LoadAllCAs               bool            `yaml:"load_all_cas"`
	HostedPlugins            *Opaque         `yaml:"hosted_plugins"`
	AccessMonitoring         *Opaque         `yaml:"access_monitoring"`
}

// TunnelStrategy is auth_service.tunnel_strategy.
type TunnelStrategy struct {
	Type                 string `yaml:"type"`
	AgentConnectionCount *int64 `yaml:"agent_connection_count"`
}

// SSH is ssh_service. Deployment renders only "enabled"; the rest is accepted.
type SSH struct {
	Service               `yaml:",inline"`
	Namespace             string            `yaml:"namespace"`
	Labels                map[string]string `yaml:"labels"`
	Commands              []Opaque          `yaml:"commands"`
	PermitUserEnv         bool              `yaml:"permit_user_env"`
	PAM                   *Opaque           `yaml:"pam"`
	PublicAddr            Strings           `yaml:"public_addr"`
	EnhancedRecording     *Opaque           `yaml:"enhanced_recording"`
	RestrictedSession     *Opaque           `yaml:"restricted_session"`
	PortForwarding        *bool             `yaml:"port_forwarding"`
	X11                   *Opaque           `yaml:"x11"`
	SSHFileCopy           *bool             `yaml:"ssh_file_copy"`
	DisableCreateHostUser bool              `yaml:"disable_create_host_user"`
	ForceListen           bool              `yaml:"force_listen"`
}

// Proxy is proxy_service.
type Proxy struct {
	Service                     `yaml:",inline"`
	WebListenAddr               string        `yaml:"web_listen_addr"`
	TunnelListenAddr            string        `yaml:"tunnel_listen_addr"`
	PeerListenAddr              string        `yaml:"peer_listen_addr"`
	PeerPublicAddr              string        `yaml:"peer_public_addr"`
	HTTPSKeyFile                string        `yaml:"https_key_file"`
	HTTPSCertFile               string        `yaml:"https_cert_file"`
	ProxyProtocol               string        `yaml:"proxy_protocol"`
	ProxyProtocolAllowDowngrade *string       `yaml:"proxy_protocol_allow_downgrade"`
	Kubernetes                  *Opaque       `yaml:"kubernetes"`
	KubeListenAddr              string        `yaml:"kube_listen_addr"`
	KubePublicAddr              Strings       `yaml:"kube_public_addr"`
	PublicAddr                  Strings       `yaml:"public_addr"`
	SSHPublicAddr               Strings       `yaml:"ssh_public_addr"`
	TunnelPublicAddr            Strings       `yaml:"tunnel_public_addr"`
	HTTPSKeyPairs               []KeyPair     `yaml:"https_keypairs"`
	HTTPSKeyPairsReloadInterval time.Duration `yaml:"https_keypairs_reload_interval"`
	ACME                        ACME          `yaml:"acme"`
	MySQLListenAddr             string        `yaml:"mysql_listen_addr"`
	MySQLPublicAddr             Strings       `yaml:"mysql_public_addr"`
	MySQLServerVersion          string        `yaml:"mysql_server_version"`
	PostgresListenAddr          string        `yaml:"postgres_listen_addr"`
	PostgresPublicAddr          Strings       `yaml:"postgres_public_addr"`
	MongoListenAddr             string        `yaml:"mongo_listen_addr"`
	MongoPublicAddr             Strings       `yaml:"mongo_public_addr"`
	IdP                         *Opaque       `yaml:"idp"`
	UI                          *Opaque       `yaml:"ui"`
	TrustXForwardedFor          *bool         `yaml:"trust_x_forwarded_for"`
	AutomaticUpgradesChannels   *Opaque       `yaml:"automatic_upgrades_channels"`
}

// KeyPair is one entry of proxy_service.https_keypairs.
type KeyPair struct {
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
}

// ACME is proxy_service.acme.
type ACME struct {
	Enabled string `yaml:"enabled"`
	Email   string `yaml:"email"`
	URI     string `yaml:"uri"`
}
