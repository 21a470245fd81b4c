package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"teleportha.ops/teleport-double/internal/cluster"
)

// Defaults Teleport applies (lib/defaults).
const (
	DefaultDataDir        = "/var/lib/teleport"
	DefaultLicenseFile    = "license.pem"
	DefaultAuthListenAddr = "0.0.0.0:3025"
	DefaultWebListenAddr  = "0.0.0.0:3080"
	DefaultSSHListenAddr  = "0.0.0.0:3022"
	DefaultPeerListenAddr = "0.0.0.0:3021"
	authPort              = 3025
	httpPort              = 3080
	sshProxyPort          = 3023
	tunnelPort            = 3024
	sshNodePort           = 3022
	peerPort              = 3021
	kubePort              = 3026
)

// Runtime is what `teleport start` runs with once lib/config.ApplyFileConfig
// has applied the file: defaults filled in, addresses parsed, the files the
// config names read.
type Runtime struct {
	File        *File
	DataDir     string
	NodeName    string
	PIDFile     string
	DiagAddr    string
	AuthServer  string
	ProxyServer string
	// JoinMethod and Token as in servicecfg.Config: Token is the value or an
	// absolute path, read only when joining (servicecfg.(*Config).Token).
	JoinMethod string
	Token      string
	CAPins     []string
	LogOutput  string
	Auth       AuthRuntime
	Proxy      ProxyRuntime
	SSH        SSHRuntime
	// Warnings are what Teleport would log at start and carry on.
	Warnings []string
}

// AuthRuntime is the applied auth_service section.
type AuthRuntime struct {
	Enabled              bool
	ClusterName          string
	ListenAddr           string
	PublicAddrs          []string
	Tokens               []StaticToken
	LicenseFile          string
	TunnelStrategy       string
	AgentConnectionCount int64
	ProxyListenerMode    string
	StorageType          string
	StorageParams        map[string]any
}

// StaticToken is one value of auth_service.tokens with the roles it allows.
type StaticToken struct {
	Roles []string
	Value string
}

// ProxyRuntime is the applied proxy_service section.
type ProxyRuntime struct {
	Enabled        bool
	WebAddr        string
	PeerAddr       string
	PeerPublicAddr string
	PublicAddrs    []string
	SSHAddr        string
	TunnelAddr     string
	KubeAddr       string
	MySQLAddr      string
	PostgresAddr   string
	MongoAddr      string
	KeyPairs       []KeyPairPath
	ReloadInterval time.Duration
}

// KeyPairPath is one https key pair.
type KeyPairPath struct {
	PrivateKey  string
	Certificate string
}

// SSHRuntime is the applied ssh_service section.
type SSHRuntime struct {
	Enabled    bool
	ListenAddr string
}

// ParseBool is api/utils.ParseBool.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "yeah", "y", "true", "1", "on":
		return true, nil
	case "no", "nope", "n", "false", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", v)
}

// On reports whether a service section is on.
// mirrors lib/config.(*Service).Enabled: an unset flag takes the service's
// default, and a flag that is not a boolean turns the service off (no error).
func (s Service) On(def bool) bool {
	if s.Enabled == "" {
		return def
	}
	b, err := ParseBool(s.Enabled)
	return err == nil && b
}

// Config versions Teleport reads (lib/defaults.TeleportConfigVersionV1..V3).
var configVersions = []string{"v1", "v2", "v3"}

// Join methods Teleport knows (api/types.JoinMethods in v17/v18).
var joinMethods = []string{"token", "ec2", "iam", "github", "circleci", "kubernetes", "azure",
	"gitlab", "gcp", "spacelift", "tpm", "terraform_cloud", "bitbucket", "oracle",
	"azure_devops", "bound_keypair", "env0"}

// Apply is `teleport start`'s second configuration stage. It fails with the
// first problem, as ApplyFileConfig does, naming the key and the fix.
func Apply(f *File) (*Runtime, error) {
	rt := &Runtime{File: f}
	fail := func(path, format string, args ...any) (*Runtime, error) {
		return nil, &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	g := f.Teleport

	// mirrors lib/config.applyConfigVersion and lib/defaults.ValidateConfigVersion
	version := f.Version
	if version == "" {
		version = "v1"
	}
	if !slices.Contains(configVersions, version) {
		return fail("version", "%q is not a configuration version Teleport knows (one of %s)", f.Version, strings.Join(configVersions, ", "))
	}
	if version != "v3" {
		return fail("version", "%q: the TEST DOUBLE models configuration version v3 only (Teleport itself still reads %s); set version: v3", version, version)
	}

	rt.Auth.Enabled = f.Auth.On(true)
	rt.Proxy.Enabled = f.Proxy.On(true)
	rt.SSH.Enabled = f.SSH.On(true)
	rt.NodeName = g.NodeName
	if rt.NodeName == "" {
		rt.NodeName, _ = os.Hostname()
	}
	rt.PIDFile = g.PIDFile

	// mirrors lib/config.applyAuthOrProxyAddress (config v3)
	if len(g.AuthServers) > 0 {
		return fail("teleport.auth_servers", "config v3 has replaced auth_servers with either auth_server or proxy_server")
	}
	if g.AuthServer != "" && g.ProxyServer != "" {
		return fail("teleport.proxy_server", "only one of auth_server or proxy_server should be set")
	}
	if g.AuthServer != "" {
		a, err := ParseHostPortAddr(g.AuthServer, authPort)
		if err != nil {
			return fail("teleport.auth_server", "%v", err)
		}
		rt.AuthServer = a
	}
	if g.ProxyServer != "" {
		if rt.Proxy.Enabled {
			return fail("teleport.proxy_server", "proxy_server can not be specified when proxy service is enabled")
		}
		a, err := ParseHostPortAddr(g.ProxyServer, httpPort)
		if err != nil {
			return fail("teleport.proxy_server", "%v", err)
		}
		rt.ProxyServer = a
	}

	// mirrors lib/config.applyTokenConfig
	if g.AuthToken != "" {
		if g.JoinParams != (JoinParams{}) {
			return fail("teleport.auth_token", "only one of auth_token or join_params should be set")
		}
		rt.JoinMethod, rt.Token = "token", g.AuthToken
	} else if g.JoinParams != (JoinParams{}) {
		rt.Token = g.JoinParams.TokenName
		// mirrors api/types.ValidateJoinMethod (an empty method means token)
		if m := g.JoinParams.Method; m != "" && !slices.Contains(joinMethods, m) {
			return fail("teleport.join_params.method", "unknown join method %q (Teleport knows %s)", m, strings.Join(joinMethods, ", "))
		}
		rt.JoinMethod = g.JoinParams.Method
		if rt.JoinMethod == "" {
			rt.JoinMethod = "token"
		}
	}

	rt.DataDir = g.DataDir
	if rt.DataDir == "" {
		rt.DataDir = DefaultDataDir
	}

	// mirrors lib/config.applyLogConfig
	switch strings.ToLower(g.Log.Severity) {
	case "", "info", "err", "error", "debug", "warn", "warning", "trace":
	default:
		return fail("teleport.log.severity", "unsupported logger severity: %q (use info, warn, error, debug or trace)", g.Log.Severity)
	}
	switch strings.ToLower(g.Log.Format.Output) {
	case "", "text", "json":
	default:
		return fail("teleport.log.format.output", "unsupported log output format : %q (use text or json)", g.Log.Format.Output)
	}
	rt.LogOutput = g.Log.Output

	// mirrors lib/service/servicecfg.(*Config).ApplyCAPins
	for _, pinOrPath := range g.CAPin {
		if pinOrPath == "" {
			continue
		}
		pins, err := TryReadValueAsFile(pinOrPath)
		if err != nil {
			return fail("teleport.ca_pin", "%v", err)
		}
		if pins == "" {
			return fail("teleport.ca_pin", "empty ca_pin file: %v", pinOrPath)
		}
		rt.CAPins = append(rt.CAPins, strings.Split(pins, "\n")...)
	}

	// mirrors lib/config.ApplyFileConfig: diag_addr goes through utils.ParseAddr,
	// which has no default port.
	if g.DiagAddr != "" {
		a, err := ParseHostPortAddr(g.DiagAddr, 0)
		if err != nil {
			return fail("teleport.diag_addr", "%v", err)
		}
		rt.DiagAddr = a
	}

	if rt.Auth.Enabled {
		if err := applyAuth(f, rt); err != nil {
			return nil, err
		}
	}
	if rt.Proxy.Enabled {
		if err := applyProxy(f, rt); err != nil {
			return nil, err
		}
	}
	if rt.SSH.Enabled {
		rt.SSH.ListenAddr = DefaultSSHListenAddr
		if a := f.SSH.ListenAddr; a != "" {
			p, err := ParseHostPortAddr(a, sshNodePort)
			if err != nil {
				return fail("ssh_service.listen_addr", "%v", err)
			}
			rt.SSH.ListenAddr = p
		}
	}
	return rt, nil
}

func validateProxyProtocol(path, v string) error {
	// mirrors lib/config.validatePROXYProtocolValue
	if v != "" && v != "on" && v != "off" {
		return &Error{Path: path, Msg: fmt.Sprintf("invalid 'proxy_protocol' value %q. Available options are: [on off]", v)}
	}
	return nil
}

// mirrors lib/config.applyAuthConfig
func applyAuth(f *File, rt *Runtime) error {
	a := f.Auth
	fail := func(path, format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if err := validateProxyProtocol("auth_service.proxy_protocol", a.ProxyProtocol); err != nil {
		return err
	}
	rt.Auth.ListenAddr = DefaultAuthListenAddr
	if a.ListenAddr != "" {
		p, err := ParseHostPortAddr(a.ListenAddr, authPort)
		if err != nil {
			return fail("auth_service.listen_addr", "%v", err)
		}
		rt.Auth.ListenAddr = p
	}
	for _, pa := range a.PublicAddr {
		p, err := ParseHostPortAddr(pa, authPort)
		if err != nil {
			return fail("auth_service.public_addr", "%v", err)
		}
		rt.Auth.PublicAddrs = append(rt.Auth.PublicAddrs, p)
	}
	// The cluster name defaults to the host name (lib/service.initAuthStorage
	// falls back to cfg.Hostname when cluster_name is unset).
	rt.Auth.ClusterName = a.ClusterName
	if rt.Auth.ClusterName == "" {
		rt.Auth.ClusterName = rt.NodeName
	}
	for i, t := range a.Tokens {
		toks, err := ParseStaticToken(t)
		if err != nil {
			return fail(fmt.Sprintf("auth_service.tokens[%d]", i), "%v", err)
		}
		rt.Auth.Tokens = append(rt.Auth.Tokens, toks...)
	}

	st := f.Teleport.Storage
	rt.Auth.StorageType = st.Type
	// mirrors lib/config.ApplyFileConfig: "dir" is another name of the sqlite
	// ("lite") backend, which is also the default.
	if rt.Auth.StorageType == "" || rt.Auth.StorageType == "dir" {
		rt.Auth.StorageType = "sqlite"
	}
	rt.Auth.StorageParams = st.Params
	rt.Warnings = append(rt.Warnings, storageWarnings(st)...)
	if err := checkAuditURIs(st); err != nil {
		return err
	}

	// mirrors api/types.(*TunnelStrategyV1).CheckAndSetDefaults: agent_mesh when
	// unset, and an agent_connection_count of 0 means the default of 1. Teleport
	// does not bound the count otherwise.
	rt.Auth.TunnelStrategy = "agent_mesh"
	if ts := a.TunnelStrategy; ts != nil {
		rt.Auth.TunnelStrategy = ts.Type
		if ts.Type == "proxy_peering" {
			rt.Auth.AgentConnectionCount = 1
			if ts.AgentConnectionCount != nil && *ts.AgentConnectionCount != 0 {
				rt.Auth.AgentConnectionCount = *ts.AgentConnectionCount
			}
		}
	}
	rt.Auth.ProxyListenerMode = strings.ToLower(a.ProxyListenerMode)
	if rt.Auth.ProxyListenerMode == "" {
		// v2 and later configs default to multiplex (lib/config.makeSampleAuthConfig
		// and the configuration reference); the double models v3 only.
		rt.Auth.ProxyListenerMode = "multiplex"
	}

	// mirrors api/types.NewSessionRecordingConfigFromConfigFile (the modes of
	// api/types.SessionRecordingModes); exact message not found in the index.
	if m := a.SessionRecording; m != "" && !slices.Contains([]string{"node", "node-sync", "proxy", "proxy-sync", "off"}, m) {
		return fail("auth_service.session_recording", "%q is not a session recording mode (node, node-sync, proxy, proxy-sync or off)", m)
	}

	// mirrors lib/config.applyAuthConfig: the license path is resolved against
	// data_dir when relative, and defaults to <data_dir>/license.pem. Only the
	// Enterprise build reads it (the OSS code says "not used in open-source version").
	switch lf := a.LicenseFile; {
	case lf == "":
		rt.Auth.LicenseFile = filepath.Join(rt.DataDir, DefaultLicenseFile)
	case filepath.IsAbs(lf):
		rt.Auth.LicenseFile = lf
	default:
		rt.Auth.LicenseFile = filepath.Join(rt.DataDir, lf)
	}
	return nil
}

// mirrors lib/config.applyProxyConfig
func applyProxy(f *File, rt *Runtime) error {
	p := f.Proxy
	fail := func(path, format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if err := validateProxyProtocol("proxy_service.proxy_protocol", p.ProxyProtocol); err != nil {
		return err
	}
	addr := func(path, v string, port int, dst *string) error {
		if v == "" {
			return nil
		}
		a, err := ParseHostPortAddr(v, port)
		if err != nil {
			return fail(path, "%v", err)
		}
		*dst = a
		return nil
	}
	rt.Proxy.WebAddr = DefaultWebListenAddr
	for _, x := range []struct {
		path string
		v    string
		port int
		dst  *string
	}{
		{"proxy_service.listen_addr", p.ListenAddr, sshProxyPort, &rt.Proxy.SSHAddr},
		{"proxy_service.web_listen_addr", p.WebListenAddr, httpPort, &rt.Proxy.WebAddr},
		{"proxy_service.tunnel_listen_addr", p.TunnelListenAddr, tunnelPort, &rt.Proxy.TunnelAddr},
		{"proxy_service.kube_listen_addr", p.KubeListenAddr, kubePort, &rt.Proxy.KubeAddr},
		{"proxy_service.mysql_listen_addr", p.MySQLListenAddr, 3036, &rt.Proxy.MySQLAddr},
		{"proxy_service.postgres_listen_addr", p.PostgresListenAddr, 5432, &rt.Proxy.PostgresAddr},
		{"proxy_service.mongo_listen_addr", p.MongoListenAddr, 27017, &rt.Proxy.MongoAddr},
		{"proxy_service.peer_listen_addr", p.PeerListenAddr, peerPort, &rt.Proxy.PeerAddr},
	} {
		if err := addr(x.path, x.v, x.port, x.dst); err != nil {
			return err
		}
	}

	pairs := slices.Clone(p.HTTPSKeyPairs)
	// The legacy single pair is kept "forever" by Teleport and appended first.
	if p.HTTPSKeyFile != "" || p.HTTPSCertFile != "" {
		pairs = append([]KeyPair{{KeyFile: p.HTTPSKeyFile, CertFile: p.HTTPSCertFile}}, pairs...)
	}
	for i, kp := range pairs {
		path := fmt.Sprintf("proxy_service.https_keypairs[%d]", i)
		if !fileExists(kp.KeyFile) {
			return fail(path+".key_file", "https private key does not exist: %s (write the key there or fix the path)", kp.KeyFile)
		}
		if !fileExists(kp.CertFile) {
			return fail(path+".cert_file", "https cert does not exist: %s (write the certificate there or fix the path)", kp.CertFile)
		}
		chain, err := readCertificates(kp.CertFile)
		if err != nil {
			return fail(path+".cert_file", "%v", err)
		}
		if isSelfSigned(chain) {
			rt.Warnings = append(rt.Warnings, "Starting Teleport with a self-signed TLS certificate, this is not safe for production clusters. Using a self-signed certificate opens Teleport users to Man-in-the-Middle attacks.")
		} else if err := verifyCertificateChain(chain); err != nil {
			// Teleport checks the chain against the host's trust store so that
			// browsers accept it; a private CA must be in that store.
			return fail(path+".cert_file", "unable to verify HTTPS certificate chain in %v: %v (install the issuing CA in the system trust store or use a publicly trusted certificate)", kp.CertFile, err)
		}
		rt.Proxy.KeyPairs = append(rt.Proxy.KeyPairs, KeyPairPath{PrivateKey: kp.KeyFile, Certificate: kp.CertFile})
	}
	rt.Proxy.ReloadInterval = p.HTTPSKeyPairsReloadInterval

	webPort := httpPort
	if _, port, err := net.SplitHostPort(rt.Proxy.WebAddr); err == nil {
		webPort, _ = strconv.Atoi(port)
	}
	for _, pa := range p.PublicAddr {
		a, err := ParseHostPortAddr(pa, webPort)
		if err != nil {
			return fail("proxy_service.public_addr", "%v", err)
		}
		rt.Proxy.PublicAddrs = append(rt.Proxy.PublicAddrs, a)
	}
	for path, vs := range map[string]Strings{"proxy_service.ssh_public_addr": p.SSHPublicAddr, "proxy_service.tunnel_public_addr": p.TunnelPublicAddr} {
		for _, v := range vs {
			if _, err := ParseHostPortAddr(v, sshProxyPort); err != nil {
				return fail(path, "%v", err)
			}
		}
	}
	if p.PeerPublicAddr != "" {
		if p.PeerListenAddr == "" {
			return fail("proxy_service.peer_public_addr", "peer_listen_addr must be set when peer_public_addr is set")
		}
		a, err := ParseHostPortAddr(p.PeerPublicAddr, peerPort)
		if err != nil {
			return fail("proxy_service.peer_public_addr", "%v", err)
		}
		rt.Proxy.PeerPublicAddr = a
	}
	if len(p.MySQLPublicAddr) > 0 && p.MySQLListenAddr == "" {
		return fail("proxy_service.mysql_public_addr", "mysql_listen_addr must be set when mysql_public_addr is set")
	}
	if len(p.MongoPublicAddr) > 0 && p.MongoListenAddr == "" {
		return fail("proxy_service.mongo_public_addr", "mongo_listen_addr must be set when mongo_public_addr is set")
	}
	if len(p.KubePublicAddr) > 0 && p.KubeListenAddr == "" {
		return fail("proxy_service.kube_public_addr", "kube_listen_addr must be set when kube_public_addr is set")
	}
	return nil
}

// ParseHostPortAddr mirrors lib/utils.ParseHostPortAddr: "host", "host:port"
// or "scheme://host[:port]" (tcp, http, https); a missing port takes
// defaultPort when it is > 0.
func ParseHostPortAddr(v string, defaultPort int) (string, error) {
	raw := v
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("failed to parse %q: %v", v, err)
	}
	switch u.Scheme {
	case "tcp", "http", "https":
	default:
		return "", fmt.Errorf("'%v': unsupported scheme: '%v'", v, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" && !strings.HasPrefix(u.Host, ":") {
		return "", fmt.Errorf("%q: missing host", v)
	}
	if port == "" {
		if defaultPort <= 0 {
			return "", fmt.Errorf("%q: missing port in address", v)
		}
		port = strconv.Itoa(defaultPort)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: invalid port %q", v, port)
	}
	return net.JoinHostPort(host, port), nil
}

// TryReadValueAsFile mirrors lib/utils.TryReadValueAsFile: an absolute path is
// read (whitespace trimmed), anything else is the value itself.
func TryReadValueAsFile(value string) (string, error) {
	if !filepath.IsAbs(value) {
		return value, nil
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ParseStaticToken mirrors lib/config.StaticToken.Parse: "role,role:token",
// split on the first ':'; the token part may be an absolute path to a file
// holding several newline-separated tokens, all with the same roles.
func ParseStaticToken(spec string) ([]StaticToken, error) {
	roleSpec, tokenPart, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("invalid static token spec: %q (the format is \"proxy,node:TOKEN\" or \"proxy:/absolute/token/file\")", spec)
	}
	roles, err := ParseTeleportRoles(roleSpec)
	if err != nil {
		return nil, err
	}
	value, err := TryReadValueAsFile(tokenPart)
	if err != nil {
		return nil, err
	}
	var out []StaticToken
	for _, t := range strings.Split(value, "\n") {
		out = append(out, StaticToken{Roles: roles, Value: t})
	}
	return out, nil
}

// systemRoles are api/types.SystemRole values by their lower-case names.
var systemRoles = map[string]string{
	"auth": "Auth", "node": "Node", "proxy": "Proxy", "admin": "Admin",
	"provisiontoken": "ProvisionToken", "trusted_cluster": "Trusted_cluster",
	"trustedcluster": "Trusted_cluster", "signup": "Signup", "nop": "Nop",
	"remoteproxy": "RemoteProxy", "kube": "Kube", "app": "App", "db": "Db",
	"windowsdesktop": "WindowsDesktop", "bot": "Bot", "instance": "Instance",
	"discovery": "Discovery", "okta": "Okta", "mdm": "MDM",
	"accessgraphplugin": "AccessGraphPlugin", "relay": "Relay",
}

// ParseTeleportRoles mirrors api/types.ParseTeleportRoles: comma-separated,
// case-insensitive; an unknown role is an error.
func ParseTeleportRoles(spec string) ([]string, error) {
	var roles []string
	for _, s := range strings.Split(spec, ",") {
		r, ok := systemRoles[strings.ToLower(strings.TrimSpace(s))]
		if !ok {
			return nil, fmt.Errorf("invalid role %q (use proxy, node, auth, kube, app, db, ...)", s)
		}
		roles = append(roles, r)
	}
	return roles, nil
}

func fileExists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}

func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	chain, err := cluster.ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return chain, nil
}

// isSelfSigned mirrors lib/utils.IsSelfSigned: one certificate whose subject
// is its issuer.
func isSelfSigned(chain []*x509.Certificate) bool {
	return len(chain) == 1 && bytes.Equal(chain[0].RawSubject, chain[0].RawIssuer)
}

// verifyCertificateChain mirrors lib/utils.VerifyCertificateChain: the leaf
// must chain, through the intermediates in the file, to the system roots.
func verifyCertificateChain(chain []*x509.Certificate) error {
	roots, err := x509.SystemCertPool()
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// Storage parameters each backend reads (json tags of the backend Config
// structs) plus the audit keys the storage section carries for every backend.
// Teleport decodes the parameters with utils.ObjectToStruct, which ignores
// unknown keys: a typo there is silently ignored, so the double only warns.
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
		"sqlite":    {"path", "sync", "journal", "poll_stream_period", "buffer_size", "memory"},
		"dir":       {"path", "sync", "journal", "poll_stream_period", "buffer_size", "memory"},
		"firestore": {"collection_name", "project_id", "credentials_path", "endpoint", "database_id", "disable_expired_document_purging", "purge_expired_documents_poll_interval", "retry_period", "buffer_size"},
	}
)

func storageWarnings(s Storage) []string {
	allowed, ok := storageKeys[s.Type]
	if !ok {
		return nil
	}
	allowed = append(slices.Clone(allowed), auditKeys...)
	var keys []string
	for k := range s.Params {
		if !slices.Contains(allowed, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("teleport.storage.%s is not a parameter of the %s backend: Teleport ignores it silently (check the key name)", k, s.Type))
	}
	return out
}

// checkAuditURIs mirrors lib/services.ClusterAuditConfigSpecFromObject: the
// audit keys are a URI or a list of them (events) and one URI (sessions).
func checkAuditURIs(s Storage) error {
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
				su, ok := u.(string)
				if !ok {
					return &Error{Path: "teleport.storage." + k, Msg: "expected a URI or a list of URIs"}
				}
				uris = append(uris, su)
			}
		default:
			return &Error{Path: "teleport.storage." + k, Msg: "expected a URI or a list of URIs"}
		}
		if k == "audit_sessions_uri" && len(uris) > 1 {
			return &Error{Path: "teleport.storage." + k, Msg: "takes a single URI"}
		}
	}
	return nil
}

// errNotModelled marks what the double cannot do rather than what Teleport refuses.
var errNotModelled = errors.New("not modelled by the TEST DOUBLE")

// NotModelled wraps a message about a feature the double cannot emulate.
func NotModelled(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errNotModelled)
}
