package config

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Defaults Teleport applies to an unset address.
const (
	DefaultWebListenAddr  = "0.0.0.0:3080"
	DefaultPeerListenAddr = "0.0.0.0:3021"
	DefaultAuthListenAddr = "0.0.0.0:3025"
	DefaultSSHListenAddr  = "0.0.0.0:3022"
	DefaultDataDir        = "/var/lib/teleport"
)

// Storage parameters each backend accepts (Teleport's backend Config json
// tags plus the audit keys the storage section carries for every backend).
var (
	auditKeys   = []string{"audit_events_uri", "audit_sessions_uri", "audit_retention_period"}
	storageKeys = map[string][]string{
		"dynamodb": {"region", "endpoint", "access_key", "secret_key", "table_name",
			"read_capacity_units", "write_capacity_units", "buffer_size", "poll_stream_period",
			"retry_period", "continuous_backups", "auto_scaling", "billing_mode",
			"read_max_capacity", "read_min_capacity", "read_target_value",
			"write_max_capacity", "write_min_capacity", "write_target_value"},
		"postgresql": {"conn_string", "auth_mode", "azure_client_id", "gcp_connection_name",
			"gcp_ip_type", "change_feed_conn_string", "change_feed_poll_interval",
			"change_feed_batch_size", "disable_expiry", "expiry_interval", "expiry_batch_size"},
		"cockroachdb": {"conn_string", "ttl_job_cron", "change_feed_conn_string", "range_page_size"},
		"etcd": {"peers", "prefix", "tls_cert_file", "tls_key_file", "tls_ca_file", "insecure",
			"username", "password_file", "dial_timeout", "etcd_max_client_msg_size_bytes",
			"buffer_size", "client_pool_size"},
		"dir":       {"path", "sync", "journal", "poll_stream_period", "buffer_size", "memory"},
		"sqlite":    {"path", "sync", "journal", "poll_stream_period", "buffer_size", "memory"},
		"firestore": {"collection_name", "project_id", "credentials_path", "endpoint", "database_id", "disable_expired_document_purging", "purge_expired_documents_poll_interval", "retry_period", "buffer_size"},
	}
	joinMethods = []string{"token", "ec2", "iam", "github", "circleci", "kubernetes", "azure",
		"gitlab", "gcp", "spacelift", "tpm", "terraform_cloud", "bitbucket", "oracle",
		"azure_devops", "bound_keypair", "env0"}
	severities        = []string{"trace", "debug", "info", "warn", "warning", "err", "error"}
	logFormats        = []string{"text", "json"}
	listenerModes     = []string{"multiplex", "separate"}
	tunnelTypes       = []string{"agent_mesh", "proxy_peering"}
	sessionRecordings = []string{"node", "node-sync", "proxy", "proxy-sync", "off"}
	billingModes      = []string{"pay_per_request", "provisioned"}
)

// ParseBool is Teleport's boolean parsing for "enabled" style flags.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "yeah", "y", "true", "1", "on":
		return true, nil
	case "no", "nope", "n", "false", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true/false or yes/no)", v)
}

// On reports whether a service section is on; sections absent from the
// file use Teleport's default (auth, proxy and ssh are on by default).
func (s Service) On(def bool) bool {
	if s.Enabled == "" {
		return def
	}
	b, _ := ParseBool(s.Enabled)
	return b
}

// Validate runs the semantic checks Teleport runs after parsing.
func (f *File) Validate() Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed []string) {
		if v != "" && !slices.Contains(allowed, v) {
			add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}
	addr := func(path, v string) {
		if v == "" {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil {
			add(path, "%q is not host:port", v)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add(path, "%q has an invalid port", v)
		}
	}
	addrs := func(path string, vs Strings) {
		for _, v := range vs {
			if strings.Contains(v, "://") {
				add(path, "%q must be host[:port], not a URL", v)
			}
		}
	}

	if f.Version != "v3" {
		add("version", "%q is not supported by this configuration: the double models version v3 (set version: v3)", f.Version)
	}
	g := f.Teleport
	if len(g.AuthServers) > 0 {
		add("teleport.auth_servers", "not supported in config version v3: use teleport.auth_server (auth) or teleport.proxy_server (proxy)")
	}
	if g.AuthServer != "" && g.ProxyServer != "" {
		add("teleport.proxy_server", "auth_server and proxy_server cannot both be set")
	}
	addr("teleport.auth_server", g.AuthServer)
	addr("teleport.proxy_server", g.ProxyServer)
	addr("teleport.diag_addr", g.DiagAddr)
	oneOf("teleport.join_params.method", g.JoinParams.Method, joinMethods)
	if g.JoinParams.Method == "token" && g.JoinParams.TokenName == "" {
		add("teleport.join_params.token_name", "required when method is token")
	}
	oneOf("teleport.log.severity", strings.ToLower(g.Log.Severity), severities)
	oneOf("teleport.log.format.output", g.Log.Format.Output, logFormats)
	if g.Cache.Enabled != "" {
		if _, err := ParseBool(g.Cache.Enabled); err != nil {
			add("teleport.cache.enabled", "%v", err)
		}
	}
	errs = append(errs, g.Storage.validate()...)

	for name, s := range map[string]Service{"auth_service": f.Auth.Service, "proxy_service": f.Proxy.Service, "ssh_service": f.SSH.Service, "debug_service": f.Debug} {
		if s.Enabled != "" {
			if _, err := ParseBool(s.Enabled); err != nil {
				add(name+".enabled", "%v", err)
			}
		}
		addr(name+".listen_addr", s.ListenAddr)
	}

	a := f.Auth
	oneOf("auth_service.proxy_listener_mode", a.ProxyListenerMode, listenerModes)
	oneOf("auth_service.session_recording", a.SessionRecording, sessionRecordings)
	if ts := a.TunnelStrategy; ts != nil {
		if ts.Type == "" {
			add("auth_service.tunnel_strategy.type", "required (agent_mesh or proxy_peering)")
		}
		oneOf("auth_service.tunnel_strategy.type", ts.Type, tunnelTypes)
		if ts.AgentConnectionCount != nil {
			if ts.Type != "proxy_peering" {
				add("auth_service.tunnel_strategy.agent_connection_count", "only valid with type proxy_peering")
			} else if *ts.AgentConnectionCount < 1 {
				add("auth_service.tunnel_strategy.agent_connection_count", "must be at least 1, got %d", *ts.AgentConnectionCount)
			}
		}
	}
	addrs("auth_service.public_addr", a.PublicAddr)

	p := f.Proxy
	for k, v := range map[string]string{"web_listen_addr": p.WebListenAddr, "tunnel_listen_addr": p.TunnelListenAddr,
		"peer_listen_addr": p.PeerListenAddr, "peer_public_addr": p.PeerPublicAddr, "kube_listen_addr": p.KubeListenAddr,
		"mysql_listen_addr": p.MySQLListenAddr, "postgres_listen_addr": p.PostgresListenAddr, "mongo_listen_addr": p.MongoListenAddr} {
		addr("proxy_service."+k, v)
	}
	addrs("proxy_service.public_addr", p.PublicAddr)
	addrs("proxy_service.tunnel_public_addr", p.TunnelPublicAddr)
	addrs("proxy_service.ssh_public_addr", p.SSHPublicAddr)
	for i, kp := range p.HTTPSKeyPairs {
		if kp.KeyFile == "" || kp.CertFile == "" {
			add(fmt.Sprintf("proxy_service.https_keypairs[%d]", i), "both key_file and cert_file are required")
		}
	}
	if p.HTTPSKeyPairsReloadInterval < 0 {
		add("proxy_service.https_keypairs_reload_interval", "must not be negative")
	}
	if (p.HTTPSKeyFile == "") != (p.HTTPSCertFile == "") {
		add("proxy_service.https_cert_file", "https_key_file and https_cert_file must be set together")
	}
	if p.ACME.Enabled != "" {
		if on, err := ParseBool(p.ACME.Enabled); err != nil {
			add("proxy_service.acme.enabled", "%v", err)
		} else if on && len(p.HTTPSKeyPairs) > 0 {
			add("proxy_service.acme.enabled", "cannot be used together with https_keypairs")
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	return errs
}

func (s Storage) validate() Errors {
	var errs Errors
	if s.Type == "" && len(s.Params) == 0 {
		return nil
	}
	allowed, ok := storageKeys[s.Type]
	if !ok {
		types := make([]string, 0, len(storageKeys))
		for k := range storageKeys {
			types = append(types, k)
		}
		sort.Strings(types)
		return Errors{{Path: "teleport.storage.type", Msg: fmt.Sprintf("%q is not a storage type Teleport supports (%s)", s.Type, strings.Join(types, ", "))}}
	}
	allowed = append(slices.Clone(allowed), auditKeys...)
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: fmt.Sprintf("unknown key for storage type %s", s.Type)})
		}
	}
	if bm, ok := s.Params["billing_mode"]; ok {
		if v, _ := bm.(string); !slices.Contains(billingModes, v) {
			errs = append(errs, &Error{Path: "teleport.storage.billing_mode", Msg: fmt.Sprintf("%v is not one of %s", bm, strings.Join(billingModes, ", "))})
		}
	}
	for _, k := range []string{"continuous_backups", "auto_scaling", "insecure"} {
		if v, ok := s.Params[k]; ok {
			if _, isBool := v.(bool); !isBool {
				errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: fmt.Sprintf("%v is not a boolean", v)})
			}
		}
	}
	required := map[string]string{"dynamodb": "table_name", "postgresql": "conn_string", "cockroachdb": "conn_string", "etcd": "peers"}
	if k, ok := required[s.Type]; ok {
		if _, set := s.Params[k]; !set {
			errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: "required for storage type " + s.Type})
		}
	}
	for _, k := range []string{"audit_events_uri", "audit_sessions_uri"} {
		v, ok := s.Params[k]
		if !ok {
			continue
		}
		var uris []string
		switch x := v.(type) {
		case string:
			uris = []string{x}
		case []any:
			for _, u := range x {
				if su, ok := u.(string); ok {
					uris = append(uris, su)
				}
			}
		}
		if len(uris) == 0 {
			errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: "expected a URI or a list of URIs"})
		}
		for _, u := range uris {
			if !strings.Contains(u, "://") {
				errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: fmt.Sprintf("%q is not a URI (for example dynamodb://table or s3://bucket/path)", u)})
			}
		}
		if k == "audit_sessions_uri" && len(uris) > 1 {
			errs = append(errs, &Error{Path: "teleport.storage." + k, Msg: "takes a single URI"})
		}
	}
	return errs
}
