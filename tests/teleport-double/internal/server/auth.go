package server

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"teleportha.ops/teleport-double/internal/cluster"
	"teleportha.ops/teleport-double/internal/config"
)

// The double's join API on the auth listener. Teleport speaks gRPC here; the
// doubles speak HTTP/JSON over the same mutual TLS, with the same checks.
const (
	pathPing       = "/v1/double/ping"
	pathCACert     = "/v1/double/cacert"
	pathRegister   = "/v1/double/register"
	pathNetworking = "/v1/double/networking"
	// versionHeader carries the client's version, as Teleport clients send
	// it in the gRPC metadata key "version" (api/metadata.VersionKey).
	versionHeader = "Version"
)

type pingResponse struct {
	ClusterName   string `json:"cluster_name"`
	ServerVersion string `json:"server_version"`
	Edition       string `json:"edition"`
	TestDouble    string `json:"test_double"`
}

type caResponse struct {
	TLSCA string `json:"tls_ca"`
}

type registerRequest struct {
	Token     string   `json:"token"`
	Role      string   `json:"role"`
	HostID    string   `json:"host_id"`
	NodeName  string   `json:"node_name"`
	DNSNames  []string `json:"dns_names"`
	PublicKey string   `json:"public_key"`
}

type registerResponse struct {
	Cert  string `json:"cert"`
	TLSCA string `json:"tls_ca"`
}

type networkingResponse struct {
	TunnelStrategy       string `json:"tunnel_strategy"`
	AgentConnectionCount int64  `json:"agent_connection_count,omitempty"`
	ProxyListenerMode    string `json:"proxy_listener_mode"`
}

type errorResponse struct {
	Error string `json:"error"`
}

// startAuth runs the auth service's start-time checks in Teleport's order,
// then serves the auth listener.
func (p *Process) startAuth() error {
	rt := p.rt
	// mirrors e/tool/teleport/process.configureLicense, run by the Enterprise
	// NewTeleport before anything else starts; only the auth service needs a
	// license (servicesNeedLicense), and the OSS build never reads license_file.
	if p.enterprise() {
		if err := cluster.CheckLicense(rt.Auth.LicenseFile, rt.DataDir); err != nil {
			return fmt.Errorf("auth_service.license_file: %v", err)
		}
	}
	if err := p.checkBackend(); err != nil {
		return err
	}
	// mirrors lib/auth.initCluster, which runs validateAndUpdateTeleportVersion
	// before any migration.
	if err := cluster.CheckAndRecordVersion(rt.DataDir, p.version); err != nil {
		return err
	}
	// mirrors lib/auth.initCluster: the --apply-on-startup resources are
	// upserted at every start, after the version check.
	if len(p.provisionTokens) > 0 {
		p.logf("Applying resources (apply-on-startup) resource_count=%d", len(p.provisionTokens))
	}
	if err := p.configureSTS(); err != nil {
		return err
	}
	ca, err := cluster.DeriveHostCA(rt.Auth.ClusterName)
	if err != nil {
		return fmt.Errorf("auth_service.cluster_name: %v", err)
	}
	p.ca = ca
	hostID, err := p.hostID()
	if err != nil {
		return err
	}
	names := []string{"localhost", "127.0.0.1"}
	for _, a := range append(slices.Clone(rt.Auth.PublicAddrs), rt.Auth.ListenAddr) {
		if h, _, err := net.SplitHostPort(a); err == nil {
			names = append(names, h)
		}
	}
	id, err := ca.NewIdentity("Auth", hostID, rt.NodeName, names)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(append(append([]byte{}, id.CertPEM...), ca.CertPEM...), id.KeyPEM)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	mux := http.NewServeMux()
	mux.HandleFunc(pathPing, p.handlePing)
	mux.HandleFunc(pathCACert, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, caResponse{TLSCA: string(ca.CertPEM)})
	})
	mux.HandleFunc(pathRegister, p.handleRegister)
	mux.HandleFunc(pathIAMChallenge, p.handleIAMChallenge)
	mux.HandleFunc(pathRegisterIAM, p.handleRegisterIAM)
	mux.HandleFunc(pathNetworking, p.requireIdentity(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, p.networking())
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "Teleport auth %s\n", Marker)
	})
	if err := p.serve("auth", rt.Auth.ListenAddr, tc, p.versionGate(mux)); err != nil {
		return err
	}
	if rt.Auth.TunnelStrategy == "proxy_peering" && !p.enterprise() {
		// The OSS auth service stores the strategy like any other; it is the
		// OSS proxies that refuse it (lib/service setupProxyListeners).
		p.logf("WARN auth_service.tunnel_strategy is proxy_peering: proxies of this edition (%s) will refuse to start, proxy peering is an enterprise-only feature", p.opts.Edition)
	}
	p.logf("Auth service is running: cluster %q, CA pin %s", rt.Auth.ClusterName, cluster.Pin(ca.Cert))
	p.state.ok("auth")
	return nil
}

// networking is the cluster networking config the auth service stores from
// its file (lib/auth.initializeClusterNetworkingConfig).
func (p *Process) networking() networkingResponse {
	return networkingResponse{TunnelStrategy: p.rt.Auth.TunnelStrategy,
		AgentConnectionCount: p.rt.Auth.AgentConnectionCount, ProxyListenerMode: p.rt.Auth.ProxyListenerMode}
}

// backends are the storage types in lib/backend's registry: the OSS binary
// links lite (sqlite, alias dir), dynamodb, etcd, firestore and postgresql;
// the CockroachDB backend lives in the Enterprise tree (e/lib/backend/crdbbk).
var backends = []string{"sqlite", "dynamodb", "etcd", "firestore", "postgresql"}

// checkBackend mirrors lib/service.(*TeleportProcess).initAuthStorage:
// lib/backend.New refuses a type that is not registered, then the backend's
// CheckAndSetDefaults its parameters.
func (p *Process) checkBackend() error {
	st := p.rt.Auth.StorageType
	params := p.rt.Auth.StorageParams
	known := slices.Contains(backends, st) || (st == "cockroachdb" && p.enterprise())
	if !known {
		hint := "use sqlite, dynamodb, etcd, firestore or postgresql"
		if st == "cockroachdb" {
			hint = "the CockroachDB backend exists in Teleport Enterprise only; use the teleport-ent build or another backend"
		}
		return fmt.Errorf("teleport.storage.type: unsupported secrets storage type: %q (%s)", st, hint)
	}
	// Required parameters of each backend's Config.CheckAndSetDefaults; the
	// exact messages are not all in the index and are the double's own.
	required := map[string]string{"dynamodb": "table_name", "postgresql": "conn_string", "cockroachdb": "conn_string", "etcd": "peers"}
	if k, ok := required[st]; ok {
		if _, set := params[k]; !set {
			return fmt.Errorf("teleport.storage.%s: required by the %s backend", k, st)
		}
	}
	// utils.ObjectToStruct decodes the parameters as JSON into typed fields:
	// a wrong type fails there.
	for _, k := range []string{"continuous_backups", "auto_scaling", "insecure"} {
		if v, ok := params[k]; ok {
			if _, isBool := v.(bool); !isBool {
				return fmt.Errorf("teleport.storage.%s: %v is not a boolean", k, v)
			}
		}
	}
	if bm, ok := params["billing_mode"]; ok && st == "dynamodb" {
		if v, _ := bm.(string); v != "pay_per_request" && v != "provisioned" {
			return fmt.Errorf("teleport.storage.billing_mode: %v is not one of pay_per_request, provisioned", bm)
		}
	}
	// The audit URIs are opened by scheme when the auth service starts
	// (lib/service initAuthAuditLog / initUploadHandler).
	schemes := map[string][]string{
		"audit_events_uri":   {"dynamodb", "firestore", "file", "stdout", "athena", "postgres", "postgresql"},
		"audit_sessions_uri": {"s3", "gs", "azblob", "file"},
	}
	for k, allowed := range schemes {
		var uris []string
		switch v := params[k].(type) {
		case string:
			uris = []string{v}
		case []any:
			for _, u := range v {
				s, _ := u.(string)
				uris = append(uris, s)
			}
		}
		for _, u := range uris {
			parsed, err := url.Parse(u)
			if err != nil || !slices.Contains(allowed, parsed.Scheme) {
				return fmt.Errorf("teleport.storage.%s: unsupported scheme for %q (use one of %s, for example dynamodb://table or s3://bucket/path)", k, u, strings.Join(allowed, ", "))
			}
		}
	}
	return nil
}

func (p *Process) handlePing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, pingResponse{ClusterName: p.rt.Auth.ClusterName, ServerVersion: p.opts.Version,
		Edition: p.opts.Edition, TestDouble: Marker})
}

func replyError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorResponse{Error: fmt.Sprintf(format, args...)})
}

// versionGate mirrors lib/auth.(*Middleware).ValidateClientVersion: a client
// older than one major back is refused on every call.
func (p *Process) versionGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(versionHeader); v != "" && r.URL.Path != pathCACert {
			cv, err := cluster.ParseSemver(v)
			if err != nil || cluster.ClientTooOld(p.version, cv) {
				min := cluster.MinClientVersion(p.version)
				msg := fmt.Sprintf("Connection from %s at %s, running an unsupported version of v%s was rejected. Connections will be allowed after upgrading the agent to v%d.0.0 or newer",
					cmpOr(r.Header.Get("Role"), "an agent"), r.RemoteAddr, v, min.Major)
				p.logf("WARN %s", msg)
				replyError(w, http.StatusForbidden, "client version is unsupported: %s", msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireIdentity admits only clients with a host certificate from this CA
// (Teleport's authorizer; the TLS layer has verified the chain).
func (p *Process) requireIdentity(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			replyError(w, http.StatusUnauthorized, "access denied: this call needs a host certificate of cluster %q (join first)", p.rt.Auth.ClusterName)
			return
		}
		h(w, r)
	}
}

// localServiceRoles are the roles api/types.SystemRole.IsLocalService accepts.
var localServiceRoles = []string{"Auth", "Node", "Proxy", "Kube", "App", "Db", "WindowsDesktop", "Discovery", "Okta", "MDM", "AccessGraphPlugin", "Relay"}

// joinToken is a token as ValidateToken finds it: a static token of
// auth_service.tokens (join method token) or a provision token applied with
// --apply-on-startup.
type joinToken struct {
	name   string
	roles  []string
	method string
	allow  []config.TokenRule
}

// validateToken mirrors lib/auth.(*Server).ValidateToken: the static tokens
// first, then the provision tokens, of which an expired one is not found
// (the backend drops it at its expiry). nil means not found.
func (p *Process) validateToken(name string) *joinToken {
	for _, t := range p.rt.Auth.Tokens {
		if t.Value != "" && subtle.ConstantTimeCompare([]byte(t.Value), []byte(name)) == 1 {
			return &joinToken{name: name, roles: t.Roles, method: "token"}
		}
	}
	for _, t := range p.provisionTokens {
		if subtle.ConstantTimeCompare([]byte(t.Name), []byte(name)) == 1 {
			if !t.Expires.IsZero() && time.Now().After(t.Expires) {
				return nil
			}
			return &joinToken{name: t.Name, roles: t.Roles, method: t.JoinMethod, allow: t.Allow}
		}
	}
	return nil
}

// checkTokenJoinRequestCommon mirrors lib/auth.(*Server).checkTokenJoinRequestCommon
// with lib/auth/join.ProvisionTokenAllowsRole: the token must exist; an
// Instance certificate needs at least one local service role in it; any
// other role must be in it.
func checkTokenJoinRequestCommon(tok *joinToken, req registerRequest) error {
	if tok == nil {
		return fmt.Errorf("%q [%v] can not join the cluster with role %q, token expired or not found", req.NodeName, req.HostID, req.Role)
	}
	if req.Role == "Instance" {
		for _, r := range tok.roles {
			if slices.Contains(localServiceRoles, r) {
				return nil
			}
		}
		return fmt.Errorf("%q [%v] cannot requisition instance certs (token contains no local service roles)", req.NodeName, req.HostID)
	}
	if !slices.Contains(tok.roles, req.Role) {
		return fmt.Errorf("node %q [%v] can not join the cluster, the token does not allow %q role", req.NodeName, req.HostID, req.Role)
	}
	return nil
}

// handleRegister mirrors lib/auth.(*Server).RegisterUsingToken: the common
// token checks, then the join method of the token decides; a token of a
// method with its own RPC (iam) is refused here.
func (p *Process) handleRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		replyError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	var req registerRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, "bad register request: %v", err)
		return
	}
	tok := p.validateToken(req.Token)
	err := checkTokenJoinRequestCommon(tok, req)
	if err == nil {
		switch tok.method {
		case "token":
		case "iam":
			err = fmt.Errorf("this token is only valid for the %[1]s join method but the node has connected to the wrong endpoint, make sure your node is configured to use the %[1]s join method", tok.method)
		default:
			err = config.NotModelled("joining with a token of join method %q", tok.method)
		}
	}
	if err != nil {
		p.logf("WARN %v", err)
		replyError(w, http.StatusForbidden, "%v", err)
		return
	}
	p.issueHostCert(w, req, "")
}

// issueHostCert answers a join that passed its checks with a host
// certificate of the cluster CA for the public key sent (lib/auth.generateCerts).
func (p *Process) issueHostCert(w http.ResponseWriter, req registerRequest, how string) {
	block, _ := pem.Decode([]byte(req.PublicKey))
	if block == nil {
		replyError(w, http.StatusBadRequest, "bad register request: no PEM public key")
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		replyError(w, http.StatusBadRequest, "bad register request: %v", err)
		return
	}
	certPEM, err := p.ca.Issue(req.Role, req.HostID, req.NodeName, req.DNSNames, pub, 365*24*time.Hour)
	if err != nil {
		replyError(w, http.StatusInternalServerError, "issuing the host certificate: %v", err)
		return
	}
	p.logf("Node %q [%v] has joined the cluster with role %s.%s", req.NodeName, req.HostID, req.Role, how)
	writeJSON(w, http.StatusOK, registerResponse{Cert: string(certPEM), TLSCA: string(p.ca.CertPEM)})
}
