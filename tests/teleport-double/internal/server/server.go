// Package server runs the listeners of the Teleport test double: the proxy's
// web HTTPS (with /webapi/ping), the proxy peer listener, the auth listener and
// the diagnostics endpoint. It answers enough of Teleport's surface for the
// deployment to be checked end to end; it is not Teleport.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"teleportha.ops/teleport-double/internal/config"
)

// Marker is appended to every line the double prints.
const Marker = "(TEST DOUBLE)"

// Process is one running `teleport start`.
type Process struct {
	Version    string
	ConfigPath string
	// DiagAddr overrides teleport.diag_addr (the --diag-addr flag).
	DiagAddr string

	log       *log.Logger
	cfg       atomic.Pointer[config.File]
	webCerts  atomic.Pointer[[]tls.Certificate]
	hostCert  tls.Certificate
	ready     atomic.Bool
	reloads   atomic.Int64
	reloadErr atomic.Int64
	certLoads atomic.Int64
	started   time.Time

	mu        sync.Mutex
	servers   []*http.Server
	listeners []net.Listener
	// Addr of each listener by name once bound (web, peer, auth, diag, ...).
	Addrs map[string]string
}

// New parses the config strictly and prepares a process; it binds nothing.
func New(version, configPath string, logOut io.Writer) (*Process, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	p := &Process{Version: version, ConfigPath: configPath, Addrs: map[string]string{}, started: time.Now()}
	p.cfg.Store(cfg)
	if logOut == nil {
		logOut, err = openLog(cfg.Teleport.Log.Output)
		if err != nil {
			return nil, fmt.Errorf("teleport.log.output: %w", err)
		}
	}
	p.log = log.New(logOut, "", log.LstdFlags)
	return p, nil
}

func openLog(output string) (io.Writer, error) {
	switch output {
	case "", "stderr", "syslog":
		return os.Stderr, nil
	case "stdout":
		return os.Stdout, nil
	}
	return os.OpenFile(output, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
}

// Logf logs one line tagged as the double.
func (p *Process) Logf(format string, args ...any) {
	p.log.Printf("[teleport] "+format+" "+Marker, args...)
}

// Config is the configuration in force.
func (p *Process) Config() *config.File { return p.cfg.Load() }

func (p *Process) names(cfg *config.File) []string {
	host, _ := os.Hostname()
	names := []string{cfg.Teleport.NodeName, host, "localhost", "127.0.0.1"}
	for _, a := range append(append(config.Strings{}, cfg.Proxy.PublicAddr...), cfg.Proxy.PeerPublicAddr) {
		if h, _, err := net.SplitHostPort(a); err == nil {
			names = append(names, h)
		} else if a != "" {
			names = append(names, a)
		}
	}
	if names[0] == "" {
		names[0] = host
	}
	return names
}

func keyPairs(cfg *config.File) [][2]string {
	var out [][2]string
	for _, kp := range cfg.Proxy.HTTPSKeyPairs {
		out = append(out, [2]string{kp.KeyFile, kp.CertFile})
	}
	if cfg.Proxy.HTTPSKeyFile != "" {
		out = append(out, [2]string{cfg.Proxy.HTTPSKeyFile, cfg.Proxy.HTTPSCertFile})
	}
	return out
}

// Start creates the data dir, binds every configured listener and serves.
func (p *Process) Start(ctx context.Context) error {
	cfg := p.Config()
	dataDir := cfg.Teleport.DataDir
	if dataDir == "" {
		dataDir = config.DefaultDataDir
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("teleport.data_dir: %w", err)
	}
	var err error
	if p.hostCert, err = selfSigned(p.names(cfg)); err != nil {
		return err
	}
	proxyOn := cfg.Proxy.On(true)
	if proxyOn {
		if err := p.reloadCerts(cfg); err != nil {
			return fmt.Errorf("proxy_service.https_keypairs: %w", err)
		}
		web := or(cfg.Proxy.WebListenAddr, config.DefaultWebListenAddr)
		mux := http.NewServeMux()
		mux.HandleFunc("/webapi/ping", p.ping)
		mux.HandleFunc("/v1/webapi/ping", p.ping)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "Teleport proxy %s\n", Marker)
		})
		tc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return pickCert(*p.webCerts.Load(), h), nil
		}}
		if err := p.serve("web", web, tc, mux); err != nil {
			return err
		}
		peerAddr := cfg.Proxy.PeerListenAddr
		if peerAddr == "" && cfg.Auth.TunnelStrategy != nil && cfg.Auth.TunnelStrategy.Type == "proxy_peering" {
			peerAddr = config.DefaultPeerListenAddr
		}
		if peerAddr != "" {
			// Teleport's peer server requires a client certificate signed by
			// the cluster's host CA; the double requires one but cannot check
			// the CA, so a handshake without a client certificate fails the
			// same way it does against Teleport.
			ptc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.hostCert}, ClientAuth: tls.RequireAnyClientCert}
			if err := p.serve("peer", peerAddr, ptc, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "proxy peer gRPC endpoint "+Marker, http.StatusUnsupportedMediaType)
			})); err != nil {
				return err
			}
		}
		for name, a := range map[string]string{"proxy_ssh": cfg.Proxy.ListenAddr, "tunnel": cfg.Proxy.TunnelListenAddr,
			"kube": cfg.Proxy.KubeListenAddr, "mysql": cfg.Proxy.MySQLListenAddr, "postgres": cfg.Proxy.PostgresListenAddr, "mongo": cfg.Proxy.MongoListenAddr} {
			if a != "" {
				if err := p.serveBanner(name, a); err != nil {
					return err
				}
			}
		}
	}
	if cfg.Auth.On(true) {
		atc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.hostCert}, ClientAuth: tls.RequestClientCert}
		if err := p.serve("auth", or(cfg.Auth.ListenAddr, config.DefaultAuthListenAddr), atc, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "Teleport auth %s\n", Marker)
		})); err != nil {
			return err
		}
	}
	if cfg.SSH.On(true) {
		if err := p.serveBanner("ssh", or(cfg.SSH.ListenAddr, config.DefaultSSHListenAddr)); err != nil {
			return err
		}
	}
	if diag := or(p.DiagAddr, cfg.Teleport.DiagAddr); diag != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", p.health(false))
		mux.HandleFunc("/readyz", p.health(true))
		mux.HandleFunc("/metrics", p.metrics)
		if err := p.serve("diag", diag, nil, mux); err != nil {
			return err
		}
	}
	if cfg.Teleport.PIDFile != "" {
		if err := os.WriteFile(cfg.Teleport.PIDFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			return fmt.Errorf("teleport.pid_file: %w", err)
		}
	}
	state := map[string]any{"double": true, "version": p.Version, "started": p.started.UTC().Format(time.RFC3339), "listeners": p.Addrs}
	if b, err := json.MarshalIndent(state, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(dataDir, "test-double-state.json"), b, 0o640)
	}
	if proxyOn {
		go p.reloadLoop(ctx)
	}
	p.ready.Store(true)
	p.Logf("Teleport v%s started: %s", p.Version, p.describe())
	return nil
}

func (p *Process) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]string, 0, len(p.Addrs))
	for _, n := range []string{"web", "peer", "auth", "diag", "proxy_ssh", "tunnel", "ssh", "kube", "mysql", "postgres", "mongo"} {
		if a, ok := p.Addrs[n]; ok {
			parts = append(parts, n+"="+a)
		}
	}
	return strings.Join(parts, " ")
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func (p *Process) listen(name, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener on %s: %w", name, addr, err)
	}
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.Addrs[name] = l.Addr().String()
	p.mu.Unlock()
	return l, nil
}

func (p *Process) serve(name, addr string, tc *tls.Config, h http.Handler) error {
	l, err := p.listen(name, addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	p.mu.Lock()
	p.servers = append(p.servers, srv)
	p.mu.Unlock()
	go func() {
		var err error
		if tc != nil {
			err = srv.Serve(tls.NewListener(l, tc))
		} else {
			err = srv.Serve(l)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.Logf("%s listener stopped: %v", name, err)
		}
	}()
	return nil
}

// serveBanner accepts TCP connections on ports the double does not speak the
// protocol of (SSH, reverse tunnel, database proxies) and closes them.
func (p *Process) serveBanner(name, addr string) error {
	l, err := p.listen(name, addr)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "Teleport %s listener %s\r\n", name, Marker)
			_ = c.Close()
		}
	}()
	return nil
}

// Shutdown closes every listener.
func (p *Process) Shutdown(ctx context.Context) {
	p.ready.Store(false)
	p.mu.Lock()
	servers, listeners := p.servers, p.listeners
	p.mu.Unlock()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	p.Logf("Teleport stopped")
}

// Reload is SIGHUP: re-read the config strictly (a bad config keeps the one in
// force) and the https keypairs.
func (p *Process) Reload() error {
	cfg, err := config.Load(p.ConfigPath)
	if err != nil {
		p.reloadErr.Add(1)
		p.Logf("reload: keeping the running configuration: %v", err)
		return err
	}
	old := p.Config()
	if changed := listenersChanged(old, cfg); changed != "" {
		p.Logf("reload: %s changed; the new address takes effect on restart", changed)
	}
	p.cfg.Store(cfg)
	if cfg.Proxy.On(true) {
		if err := p.reloadCerts(cfg); err != nil {
			p.reloadErr.Add(1)
			p.Logf("reload: keeping the previous https keypairs: %v", err)
			return err
		}
	}
	p.reloads.Add(1)
	p.Logf("reload: configuration %s and https keypairs re-read", p.ConfigPath)
	return nil
}

func listenersChanged(a, b *config.File) string {
	pairs := map[string][2]string{
		"proxy_service.web_listen_addr":  {a.Proxy.WebListenAddr, b.Proxy.WebListenAddr},
		"proxy_service.peer_listen_addr": {a.Proxy.PeerListenAddr, b.Proxy.PeerListenAddr},
		"auth_service.listen_addr":       {a.Auth.ListenAddr, b.Auth.ListenAddr},
		"teleport.diag_addr":             {a.Teleport.DiagAddr, b.Teleport.DiagAddr},
	}
	var changed []string
	for k, v := range pairs {
		if v[0] != v[1] {
			changed = append(changed, k)
		}
	}
	return strings.Join(changed, ", ")
}

func (p *Process) reloadCerts(cfg *config.File) error {
	pairs := keyPairs(cfg)
	var certs []tls.Certificate
	if len(pairs) == 0 {
		c, err := selfSigned(p.names(cfg))
		if err != nil {
			return err
		}
		if p.webCerts.Load() != nil {
			return nil // keep the generated one across reloads
		}
		p.Logf("no https_keypairs configured: serving a self-signed certificate")
		certs = []tls.Certificate{c}
	} else {
		var err error
		if certs, err = loadKeyPairs(pairs); err != nil {
			return err
		}
	}
	p.webCerts.Store(&certs)
	p.certLoads.Add(1)
	return nil
}

func (p *Process) reloadLoop(ctx context.Context) {
	for {
		interval := p.Config().Proxy.HTTPSKeyPairsReloadInterval
		if interval <= 0 {
			interval = time.Minute // re-check whether an interval got configured
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		cfg := p.Config()
		if cfg.Proxy.HTTPSKeyPairsReloadInterval <= 0 || len(keyPairs(cfg)) == 0 {
			continue
		}
		if err := p.reloadCerts(cfg); err != nil {
			p.Logf("https keypairs reload failed, keeping the previous ones: %v", err)
		}
	}
}

// CertNotAfter is the expiry of the web certificate in use.
func (p *Process) CertNotAfter() time.Time {
	certs := p.webCerts.Load()
	if certs == nil || len(*certs) == 0 || (*certs)[0].Leaf == nil {
		return time.Time{}
	}
	return (*certs)[0].Leaf.NotAfter
}
