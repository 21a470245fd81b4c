// Package server runs one `teleport start` of the Teleport TEST DOUBLE: the
// auth service (the cluster's host CA, static join tokens and provision
// tokens from --apply-on-startup, token and IAM joins, the upgrade-path
// guard, the license check), the proxy service (which joins the auth service
// over TLS before it opens its web and peer listeners), an SSH service that
// only joins, and the diagnostics endpoint. It answers enough of Teleport's
// surface for the deployment to be checked end to end; it is not Teleport,
// and the wire protocol between the doubles is the double's own (HTTP/JSON
// over TLS), not Teleport's gRPC.
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
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"teleportha.ops/teleport-double/internal/build"
	"teleportha.ops/teleport-double/internal/cluster"
	"teleportha.ops/teleport-double/internal/config"
)

// Marker is appended to every line the double prints.
const Marker = build.Marker

// FaultInjectionFile, when present in data_dir at start, keeps /readyz at 503
// (a drill hook of the double; Teleport has none).
const FaultInjectionFile = "test-double-fail-readyz"

// faultApplies: an empty fault file applies to every version; otherwise it lists
// (whitespace-separated) the versions it applies to, so that a drill can make only
// the new release fail its gate and the rollback to the old one succeed.
func faultApplies(content, version string) bool {
	versions := strings.Fields(content)
	return len(versions) == 0 || slices.Contains(versions, version)
}

// Options are the command line and the test knobs of one process.
type Options struct {
	ConfigPath       string
	DiagAddr         string // --diag-addr
	PIDFile          string // --pid-file
	SkipVersionCheck bool   // --skip-version-check
	// Version and Edition default to what build.sh stamped.
	Version string
	Edition string
	Log     io.Writer
	// MaxRetryPeriod bounds the join backoff (servicecfg.Config.MaxRetryPeriod,
	// default defaults.MaxWatcherBackoff = 90s).
	MaxRetryPeriod time.Duration
	// HealthInterval is how often a joined service checks its auth server
	// (defaults.HeartbeatCheckPeriod = 5s); RecoveryPeriod how long a
	// recovering component takes to be ok again (2 x HeartbeatCheckPeriod).
	HealthInterval time.Duration
	RecoveryPeriod time.Duration
	// ApplyOnStartupFile is --apply-on-startup: resources the auth service
	// upserts at every start (the double models kind token).
	ApplyOnStartupFile string
	// LookupEnv reads the environment (os.LookupEnv unless a test gives
	// each process its own): the AWS variables of the IAM join and the
	// double's STS override.
	LookupEnv func(string) (string, bool)
}

type registeredListener struct {
	typ, address string
	l            net.Listener
}

// Process is one running `teleport start`.
type Process struct {
	opts    Options
	version cluster.Semver
	rt      *config.Runtime
	log     *log.Logger
	state   *processState
	started time.Time

	ctx    context.Context
	cancel context.CancelFunc
	fatal  chan error

	stateMu         sync.Mutex // serialises writeState
	mu              sync.Mutex
	listeners       []registeredListener
	listenersClosed bool
	servers         []*http.Server
	conns           map[net.Conn]struct{}
	inherited       []inheritedFD
	generation      int
	// Addrs is the bound address of each listener by type once bound
	// (auth, diag, proxy:web, proxy:peer, node, ...).
	Addrs map[string]string
	wg    sync.WaitGroup

	ca        *cluster.CA // the local auth service's CA
	cluster   atomic.Pointer[clusterInfo]
	webCerts  atomic.Pointer[[]tls.Certificate]
	certLoads atomic.Int64
	forkErrs  atomic.Int64

	// provisionTokens are the --apply-on-startup tokens of the local auth
	// service; stsOverride and stsClient are how it reaches STS.
	provisionTokens []config.ProvisionToken
	stsOverride     *url.URL
	stsClient       *http.Client
	iamMu           sync.Mutex
	iamChallenges   map[string]string // by the remote address of the connection

	// extraWeb adds handlers to the web listener (tests only).
	extraWeb map[string]http.Handler
}

// clusterInfo is what a joined proxy learnt from its auth server at start.
type clusterInfo struct {
	Name              string
	TunnelStrategy    string
	AgentConnections  int64
	ProxyListenerMode string
	AuthVersion       string
}

// New reads the config in both of Teleport's stages (parse, then apply) and
// prepares the process; it binds nothing.
func New(opts Options) (*Process, error) {
	if opts.Version == "" {
		opts.Version = build.Version
	}
	if opts.Edition == "" {
		opts.Edition = build.Edition
	}
	if opts.MaxRetryPeriod <= 0 {
		opts.MaxRetryPeriod = 90 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 5 * time.Second
	}
	if opts.RecoveryPeriod <= 0 {
		opts.RecoveryPeriod = 2 * opts.HealthInterval
	}
	ver, err := cluster.ParseSemver(opts.Version)
	if err != nil {
		return nil, fmt.Errorf("the double's own version: %v", err)
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	f, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	// mirrors lib/config.Configure: the --apply-on-startup file is read
	// after the config file is parsed and before it is applied, whatever
	// services run.
	var tokens []config.ProvisionToken
	var resourceWarnings []string
	if opts.ApplyOnStartupFile != "" {
		if tokens, resourceWarnings, err = config.ReadResources(opts.ApplyOnStartupFile); err != nil {
			return nil, fmt.Errorf("--apply-on-startup %s: %w", opts.ApplyOnStartupFile, err)
		}
	}
	rt, err := config.Apply(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.ConfigPath, err)
	}
	if opts.DiagAddr != "" {
		if rt.DiagAddr, err = config.ParseHostPortAddr(opts.DiagAddr, 0); err != nil {
			return nil, fmt.Errorf("--diag-addr: %v", err)
		}
	}
	p := &Process{opts: opts, version: ver, rt: rt, started: time.Now(), Addrs: map[string]string{},
		conns: map[net.Conn]struct{}{}, fatal: make(chan error, 1), state: newProcessState(opts.RecoveryPeriod),
		provisionTokens: tokens, iamChallenges: map[string]string{}}
	p.generation, _ = strconv.Atoi(os.Getenv(generationEnvVar))
	if p.inherited, err = importFileDescriptors(); err != nil {
		return nil, err
	}
	out := opts.Log
	if out == nil {
		if out, err = openLog(rt.LogOutput); err != nil {
			return nil, fmt.Errorf("teleport.log.output: failed to create the log file: %v", err)
		}
	}
	p.log = log.New(out, "", log.LstdFlags)
	for _, w := range slices.Concat(rt.Warnings, resourceWarnings) {
		p.logf("WARN %s", w)
	}
	return p, nil
}

// openLog mirrors lib/config.applyLogConfig: a path is created (truncated).
func openLog(output string) (io.Writer, error) {
	switch output {
	case "", "stderr", "error", "2", "syslog":
		return os.Stderr, nil
	case "stdout", "out", "1":
		return os.Stdout, nil
	}
	return os.Create(output)
}

func (p *Process) logf(format string, args ...any) {
	p.log.Printf("[teleport] "+format+" "+Marker, args...)
}

// Runtime is the applied configuration.
func (p *Process) Runtime() *config.Runtime { return p.rt }

// Fatal delivers the error of a critical service that failed after Start;
// the process must then exit non-zero, as Teleport does.
func (p *Process) Fatal() <-chan error { return p.fatal }

func (p *Process) fail(err error) {
	select {
	case p.fatal <- err:
	default:
	}
}

func (p *Process) enterprise() bool { return p.opts.Edition == build.EditionEnterprise }

// needsJoin reports whether a service must join a remote auth server.
func (p *Process) needsJoin() bool {
	return !p.rt.Auth.Enabled && (p.rt.Proxy.Enabled || p.rt.SSH.Enabled)
}

// Start runs the start-time checks in Teleport's order, binds the local
// services' listeners and starts joining; joining goes on in the background.
func (p *Process) Start(ctx context.Context) error {
	p.ctx, p.cancel = context.WithCancel(ctx)
	rt := p.rt
	if err := os.MkdirAll(rt.DataDir, 0o750); err != nil {
		return fmt.Errorf("teleport.data_dir: %v", err)
	}
	if pid := cmpOr(p.opts.PIDFile, rt.PIDFile); pid != "" {
		if err := os.WriteFile(pid, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			return fmt.Errorf("failed to create the pid file %s: %v", pid, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(rt.DataDir, FaultInjectionFile)); err == nil && faultApplies(string(b), p.opts.Version) {
		p.state.fault = true
		p.logf("WARN fault injection: %s exists, /readyz stays 503", filepath.Join(rt.DataDir, FaultInjectionFile))
	}
	if p.needsJoin() && rt.ProxyServer != "" {
		return fmt.Errorf("teleport.proxy_server: joining through a proxy is %v; point teleport.auth_server at the auth servers (or their load balancer)",
			config.NotModelled("joining through proxy_server"))
	}
	if p.needsJoin() && rt.JoinMethod != "" && !slices.Contains(joinMethods, rt.JoinMethod) {
		return fmt.Errorf("teleport.join_params.method: %q is %v: the double verifies no cloud or CI identity but AWS IAM; use method iam or token",
			rt.JoinMethod, config.NotModelled("join method %s", rt.JoinMethod))
	}
	for name, on := range map[string]bool{"auth": rt.Auth.Enabled, "proxy": rt.Proxy.Enabled, "node": rt.SSH.Enabled} {
		if on {
			p.state.starting(name)
		}
	}
	if rt.Auth.Enabled {
		if err := p.startAuth(); err != nil {
			return err
		}
	}
	if rt.DiagAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "test_double": Marker})
		})
		mux.HandleFunc("/readyz", p.state.readiness)
		mux.HandleFunc("/metrics", p.metrics)
		if err := p.serve("diag", rt.DiagAddr, nil, mux); err != nil {
			return err
		}
	}
	if rt.Proxy.Enabled {
		p.goCritical("proxy", p.runProxy)
	}
	if rt.SSH.Enabled {
		p.goCritical("node", p.runNode)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.notifyParent(p.ctx)
		p.closeImportedDescriptors()
	}()
	p.writeState()
	p.logf("Teleport v%s (%s) started: %s", p.opts.Version, p.opts.Edition, p.describe())
	return nil
}

// goCritical runs a service the way lib/service.RegisterCriticalFunc does:
// its error ends the process.
func (p *Process) goCritical(name string, fn func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(); err != nil && p.ctx.Err() == nil {
			p.logf("ERROR Critical service %s has exited with error %v, aborting.", name, err)
			p.fail(err)
		}
	}()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *Process) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]string, 0, len(p.Addrs))
	for _, n := range []string{"auth", "diag", "proxy:web", "proxy:peer", "proxy:ssh", "proxy:tunnel", "node"} {
		if a, ok := p.Addrs[n]; ok {
			parts = append(parts, n+"="+a)
		}
	}
	return strings.Join(parts, " ")
}

func (p *Process) writeState() {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	p.mu.Lock()
	addrs := make(map[string]string, len(p.Addrs))
	for k, v := range p.Addrs {
		addrs[k] = v
	}
	p.mu.Unlock()
	state := map[string]any{"double": true, "version": p.opts.Version, "edition": p.opts.Edition, "pid": os.Getpid(),
		"started": p.started.UTC().Format(time.RFC3339), "listeners": addrs}
	if b, err := json.MarshalIndent(state, "", "  "); err == nil {
		path := filepath.Join(p.rt.DataDir, "test-double-state.json")
		if os.WriteFile(path+".tmp", b, 0o640) == nil {
			_ = os.Rename(path+".tmp", path)
		}
	}
}

// trackConn counts connections so that a fast shutdown can cut them.
func (p *Process) trackConn(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

// serve binds (or imports) a listener and serves HTTP(S) on it.
func (p *Process) serve(typ, addr string, tc *tls.Config, h http.Handler) error {
	l, err := p.importOrCreateListener(typ, addr)
	if err != nil {
		return fmt.Errorf("%s listener on %s: %v", typ, addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				p.trackConn(c, true)
			case http.StateClosed, http.StateHijacked:
				p.trackConn(c, false)
				// An IAM challenge lives as long as its connection.
				p.takeIAMChallenge(c.RemoteAddr().String())
			}
		}}
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
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			p.logf("%s listener stopped: %v", typ, err)
		}
	}()
	return nil
}

// serveBanner accepts TCP connections on ports the double does not speak the
// protocol of (SSH, reverse tunnel, database proxies) and closes them.
func (p *Process) serveBanner(typ, addr string) error {
	l, err := p.importOrCreateListener(typ, addr)
	if err != nil {
		return fmt.Errorf("%s listener on %s: %v", typ, addr, err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "Teleport %s listener %s\r\n", typ, Marker)
			_ = c.Close()
		}
	}()
	return nil
}

// stopListeners mirrors lib/service.(*TeleportProcess).stopListeners: no new
// connection is accepted, and no new listener opened, from here on.
func (p *Process) stopListeners() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listenersClosed = true
	for _, r := range p.listeners {
		_ = r.l.Close()
	}
	p.listeners = nil
}

// Shutdown is SIGQUIT (and the end of SIGHUP).
// mirrors lib/service.(*TeleportProcess).Shutdown: listeners are closed first,
// then every service finishes what is in flight before the process exits.
func (p *Process) Shutdown(ctx context.Context) {
	p.logf("Shutting down gracefully.")
	p.stopListeners()
	p.mu.Lock()
	servers := p.servers
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func(s *http.Server) {
			defer wg.Done()
			_ = s.Shutdown(ctx)
		}(s)
	}
	wg.Wait()
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.logf("All services stopped, exiting.")
}

// Close is SIGTERM and SIGINT.
// mirrors lib/service.(*TeleportProcess).Close: everything stops at once,
// connections in flight included.
func (p *Process) Close() {
	p.stopListeners()
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Lock()
	servers := p.servers
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	for _, s := range servers {
		_ = s.Close()
	}
	p.logf("Teleport stopped.")
}

// LogDiagnostics is SIGUSR1 (lib/service writeDebugInfo: goroutines and state).
func (p *Process) LogDiagnostics() {
	p.logf("process state=%d listeners: %s generation=%d", p.state.overall(), p.describe(), p.generation)
}

// ForkFailed counts a graceful restart whose child did not come up.
func (p *Process) ForkFailed() { p.forkErrs.Add(1) }

// Addr is the bound address of a listener type ("" until it is bound).
func (p *Process) Addr(typ string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Addrs[typ]
}
