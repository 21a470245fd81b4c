package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"teleportha.ops/teleport-double/internal/cluster"
	"teleportha.ops/teleport-double/internal/config"
)

// authClient is a connection to the auth server at teleport.auth_server.
type authClient struct {
	addr    string
	tc      *tls.Config
	version string
	role    string
}

func (c *authClient) newRequest(ctx context.Context, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+c.addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(versionHeader, c.version)
	req.Header.Set("Role", c.role)
	return req, nil
}

func decodeResponse(resp *http.Response, method, path string, out any) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return json.Unmarshal(data, out)
}

func (c *authClient) call(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := c.newRequest(ctx, method, path, in)
	if err != nil {
		return err
	}
	tr := &http.Transport{TLSClientConfig: c.tc, DisableKeepAlives: true, TLSHandshakeTimeout: 5 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeResponse(resp, method, path, out)
}

// authStream is one TLS connection to the auth server carrying several
// calls in turn, where Teleport uses one gRPC stream (the IAM join).
type authStream struct {
	c    *authClient
	conn net.Conn
	br   *bufio.Reader
	stop func() bool
}

func (c *authClient) stream(ctx context.Context) (*authStream, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: c.tc}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	// The whole exchange, STS round trip included, is bounded; a cancelled
	// process ends it at once.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return &authStream{c: c, conn: conn, br: bufio.NewReader(conn), stop: stop}, nil
}

func (s *authStream) call(method, path string, in, out any) error {
	req, err := s.c.newRequest(context.Background(), method, path, in)
	if err != nil {
		return err
	}
	if err := req.Write(s.conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeResponse(resp, method, path, out)
}

func (s *authStream) close() {
	s.stop()
	_ = s.conn.Close()
}

// session is one service's authenticated connection to the cluster.
type session struct {
	role   string
	id     *cluster.Identity
	cert   tls.Certificate
	cas    []*x509.Certificate
	client *authClient
	ping   pingResponse
}

func (s *session) caPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range s.cas {
		pool.AddCert(c)
	}
	return pool
}

// versionError is fatal: the process must not retry it.
type versionError struct{ error }

func (p *Process) identityDir() string { return filepath.Join(p.rt.DataDir, "test-double-identity") }

// hostID is the host UUID Teleport keeps in <data_dir>/host_uuid.
func (p *Process) hostID() (string, error) {
	path := filepath.Join(p.rt.DataDir, "host_uuid")
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	u := make([]byte, 16)
	if _, err := rand.Read(u); err != nil {
		return "", err
	}
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	h := hex.EncodeToString(u)
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	return id, os.WriteFile(path, []byte(id+"\n"), 0o600)
}

func (p *Process) saveIdentity(id *cluster.Identity, caPEM []byte) error {
	dir := p.identityDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	base := filepath.Join(dir, strings.ToLower(id.Role))
	for _, f := range []struct {
		path string
		data []byte
	}{{base + ".key", id.KeyPEM}, {base + ".crt", id.CertPEM}, {base + ".ca.pem", caPEM}} {
		if err := os.WriteFile(f.path+".tmp", f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			return err
		}
	}
	return nil
}

// loadIdentity reads the identity a previous join stored, if any (Teleport:
// the process storage in data_dir, read by lib/service connect).
func (p *Process) loadIdentity(role string) (*cluster.Identity, []*x509.Certificate, error) {
	base := filepath.Join(p.identityDir(), strings.ToLower(role))
	caPEM, err := os.ReadFile(base + ".ca.pem")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	certPEM, err := os.ReadFile(base + ".crt")
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(base + ".key")
	if err != nil {
		return nil, nil, err
	}
	cas, err := cluster.ParseCertsPEM(caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s.ca.pem: %v", base, err)
	}
	return &cluster.Identity{Role: role, CertPEM: certPEM, KeyPEM: keyPEM}, cas, nil
}

func (p *Process) client(role string, tc *tls.Config) *authClient {
	return &authClient{addr: p.rt.AuthServer, tc: tc, version: p.opts.Version, role: role}
}

func baseTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cluster.APIDomain}
}

// connect mirrors lib/service.(*TeleportProcess).reconnectToAuthService:
// connect, and on failure log why and retry with a linear backoff
// (retryutils.RetryV2: first a full jitter of max/10, then steps of max/5 up
// to max), except for a version mismatch, which ends the process.
func (p *Process) connect(role string) (*session, error) {
	maxRetry := p.opts.MaxRetryPeriod
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(maxRetry/10)+1))
	delay := time.Duration(n.Int64())
	for {
		s, err := p.connectOnce(role)
		if err == nil {
			return s, nil
		}
		var ve versionError
		if errors.As(err, &ve) {
			return nil, ve.error
		}
		if p.ctx.Err() != nil {
			return nil, p.ctx.Err()
		}
		switch {
		case role == "Node" && strings.Contains(err.Error(), "token expired or not found"):
			p.logf("ERROR Can not join the cluster as node, the token expired or not found. Regenerate the token and try again.")
		default:
			p.logf("ERROR Failed to establish connection to cluster. identity=%s error=%v", role, err)
		}
		select {
		case <-time.After(delay):
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		}
		delay = min(delay+maxRetry/5, maxRetry)
	}
}

func (p *Process) connectOnce(role string) (*session, error) {
	id, cas, err := p.loadIdentity(role)
	if err != nil {
		return nil, err
	}
	if id == nil {
		if id, cas, err = p.firstTimeConnect(role); err != nil {
			return nil, err
		}
	}
	cert, err := id.TLS()
	if err != nil {
		return nil, fmt.Errorf("the %s identity in %s is unusable (remove the directory to join again): %v", role, p.identityDir(), err)
	}
	s := &session{role: role, id: id, cert: cert, cas: cas}
	tc := baseTLS()
	tc.Certificates = []tls.Certificate{cert}
	tc.RootCAs = s.caPool()
	s.client = p.client(role, tc)
	if err := s.client.call(p.ctx, http.MethodGet, pathPing, nil, &s.ping); err != nil {
		if strings.Contains(err.Error(), "certificate signed by unknown authority") {
			p.logf("ERROR Was this node already registered to a different cluster? To join this node to a new cluster, remove the data_dir and try again. data_dir=%s", p.rt.DataDir)
		}
		return nil, err
	}
	authVer, err := cluster.ParseSemver(s.ping.ServerVersion)
	if err != nil {
		return nil, fmt.Errorf("failed to parse reported auth server version as semver: %v", err)
	}
	if err := cluster.AuthServerTooOld(authVer, p.version); err != nil {
		if !p.opts.SkipVersionCheck {
			return nil, versionError{err}
		}
		p.logf("WARN This instance is too new. Using a newer major version than the Auth server is unsupported and may impair functionality. version=%d auth_version=%d", p.version.Major, authVer.Major)
	}
	return s, nil
}

// joinMethods are the join methods the double joins with.
var joinMethods = []string{"token", "iam"}

// firstTimeConnect mirrors lib/service.(*TeleportProcess).firstTimeConnect
// with lib/join.Register for the token and iam methods: the CA is checked against
// teleport.ca_pin when set (pinRegisterClient), else the CA file in data_dir
// is used when present (caPathRegisterClient), else the auth server is
// trusted on first use (insecureRegisterClient).
func (p *Process) firstTimeConnect(role string) (*cluster.Identity, []*x509.Certificate, error) {
	if p.rt.Token == "" {
		return nil, nil, fmt.Errorf("%v must join a cluster and needs a provisioning token (set teleport.join_params.token_name)", role)
	}
	if p.rt.AuthServer == "" {
		return nil, nil, errors.New("config: auth_server or proxy_server is required")
	}
	// mirrors lib/service/servicecfg.(*Config).Token: read at join time, so
	// a token file may appear after start.
	token, err := config.TryReadValueAsFile(p.rt.Token)
	if err != nil {
		return nil, nil, err
	}
	tc := baseTLS()
	switch caPath := filepath.Join(p.rt.DataDir, "ca.cert"); {
	case len(p.rt.CAPins) > 0:
		insecure := baseTLS()
		insecure.InsecureSkipVerify = true
		var ca caResponse
		if err := p.client(role, insecure).call(p.ctx, http.MethodGet, pathCACert, nil, &ca); err != nil {
			return nil, nil, err
		}
		certs, err := cluster.ParseCertsPEM([]byte(ca.TLSCA))
		if err != nil {
			return nil, nil, err
		}
		if err := cluster.CheckPins(p.rt.CAPins, certs); err != nil {
			return nil, nil, err
		}
		for _, c := range certs {
			if now := time.Now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
				return nil, nil, fmt.Errorf("the cluster CA %s is not valid now", c.Subject.CommonName)
			}
		}
		p.logf("Joining remote cluster with CA pin. cluster=%s", certs[0].Subject.CommonName)
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		tc.RootCAs = pool
	case fileExists(caPath):
		b, err := os.ReadFile(caPath)
		if err != nil {
			return nil, nil, err
		}
		certs, err := cluster.ParseCertsPEM(b)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse certificate at %v: %v", caPath, err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(certs[0])
		tc.RootCAs = pool
		p.logf("Joining remote cluster, validating connection with certificate on disk. cluster=%s", certs[0].Subject.CommonName)
	default:
		p.logf("WARN Joining cluster without validating the identity of the Auth Server. This may open you up to a Man-In-The-Middle (MITM) attack if an attacker can gain privileged network access. To remedy this, use the CA pin value provided when join token was generated to validate the identity of the Auth Server or point to a valid Certificate via the CA Path option.")
		tc.InsecureSkipVerify = true
	}
	hostID, err := p.hostID()
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	req := registerRequest{Token: token, Role: role, HostID: hostID, NodeName: p.rt.NodeName,
		DNSNames: p.dnsNames(), PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))}
	var resp *registerResponse
	switch p.rt.JoinMethod {
	case "iam":
		if resp, err = p.registerUsingIAMMethod(role, tc, req); err != nil {
			return nil, nil, fmt.Errorf("registering with iam method: %v", err)
		}
	default:
		resp = &registerResponse{}
		if err := p.client(role, tc).call(p.ctx, http.MethodPost, pathRegister, req, resp); err != nil {
			return nil, nil, fmt.Errorf("registering with token method: %v", err)
		}
	}
	cas, err := cluster.ParseCertsPEM([]byte(resp.TLSCA))
	if err != nil {
		return nil, nil, err
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	id := &cluster.Identity{Role: role, HostID: hostID, CertPEM: []byte(resp.Cert),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	if err := p.saveIdentity(id, []byte(resp.TLSCA)); err != nil {
		p.logf("WARN Failed to write identity to storage. identity=%s error=%v", role, err)
	}
	p.logf("Successfully obtained credentials to connect to the cluster. identity=%s", role)
	return id, cas, nil
}

// dnsNames are the names a proxy's host certificate carries
// (lib/service.getAdditionalPrincipals: public and peer addresses).
func (p *Process) dnsNames() []string {
	var out []string
	for _, a := range append(append([]string{}, p.rt.Proxy.PublicAddrs...), p.rt.Proxy.PeerPublicAddr) {
		if h, _, err := net.SplitHostPort(a); err == nil {
			out = append(out, h)
		}
	}
	return append(out, "localhost", "127.0.0.1")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// watchAuth keeps a joined service's state in step with its auth server:
// degraded while the auth server does not answer, recovering then ok once it
// does again (Teleport's heartbeats drive TeleportDegradedEvent and
// TeleportOKEvent the same way).
func (p *Process) watchAuth(component string, s *session) {
	t := time.NewTicker(p.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		var n networkingResponse
		if err := s.client.call(p.ctx, http.MethodGet, pathNetworking, nil, &n); err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.logf("WARN Lost connection to the auth server, %s is degraded: %v", component, err)
			p.state.degraded(component)
			continue
		}
		p.state.ok(component)
	}
}

// localSession is a service's identity when the auth service runs in the
// same process (lib/auth.LocalRegister: no token needed).
func (p *Process) localSession(role string) (*session, error) {
	hostID, err := p.hostID()
	if err != nil {
		return nil, err
	}
	id, err := p.ca.NewIdentity(role, hostID, p.rt.NodeName, p.dnsNames())
	if err != nil {
		return nil, err
	}
	cert, err := id.TLS()
	if err != nil {
		return nil, err
	}
	return &session{role: role, id: id, cert: cert, cas: []*x509.Certificate{p.ca.Cert},
		ping: pingResponse{ClusterName: p.rt.Auth.ClusterName, ServerVersion: p.opts.Version, Edition: p.opts.Edition}}, nil
}
