package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"teleportha.ops/teleport-double/internal/build"
	"teleportha.ops/teleport-double/internal/cluster"
)

const testCluster = "teleport.example.com"

// syncBuf is a log sink tests can search while the process writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	*Process
	dir string
	log *syncBuf
}

// opts are fast knobs for tests: the join backoff and the health checks run
// in milliseconds instead of Teleport's seconds.
func opts(version, edition string) Options {
	return Options{Version: version, Edition: edition, MaxRetryPeriod: 200 * time.Millisecond,
		HealthInterval: 50 * time.Millisecond, RecoveryPeriod: 300 * time.Millisecond}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newProc writes cfg (DIR replaced by a fresh data dir's parent) and builds a
// process without starting it.
func newProc(t *testing.T, dir, cfg string, o Options) (*proc, error) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "teleport.yaml")
	must(t, os.WriteFile(path, []byte(strings.ReplaceAll(cfg, "DIR", dir)), 0o600))
	buf := &syncBuf{}
	o.ConfigPath, o.Log = path, buf
	p, err := New(o)
	if err != nil {
		return nil, err
	}
	return &proc{Process: p, dir: dir, log: buf}, nil
}

// startProc builds and starts a process and stops it (fast) at the end of the test.
func startProc(t *testing.T, dir, cfg string, o Options) *proc {
	t.Helper()
	p, err := newProc(t, dir, cfg, o)
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(p.Close)
	return p
}

func authConfig(tokens, extra string) string {
	return `version: v3
teleport:
  nodename: auth-1
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
` + extra + `
auth_service:
  enabled: true
  cluster_name: ` + testCluster + `
  listen_addr: 127.0.0.1:0
  tokens: [` + tokens + `]
AUTHEXTRA
proxy_service:
  enabled: false
ssh_service:
  enabled: false
`
}

// auth starts an auth double; an Enterprise one gets a test license at the
// default location, <data_dir>/license.pem.
func auth(t *testing.T, tokens, authExtra string, o Options) *proc {
	t.Helper()
	dir := t.TempDir()
	if o.Edition == build.EditionEnterprise {
		lic, err := cluster.NewTestLicense()
		must(t, err)
		must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
		must(t, os.WriteFile(filepath.Join(dir, "data", "license.pem"), lic, 0o600))
	}
	return startProc(t, dir, strings.Replace(authConfig(tokens, ""), "AUTHEXTRA", authExtra, 1), o)
}

func proxyConfig(authAddr, token, extra string) string {
	return `version: v3
teleport:
  nodename: proxy-a
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
  auth_server: ` + authAddr + `
  join_params:
    method: token
    token_name: ` + token + `
` + extra + `
auth_service:
  enabled: false
ssh_service:
  enabled: SSH
proxy_service:
  enabled: true
  web_listen_addr: 127.0.0.1:0
  peer_listen_addr: 127.0.0.1:0
  peer_public_addr: proxy-a:3021
  public_addr: teleport.example.com:443
PROXYEXTRA
`
}

func proxy(t *testing.T, authAddr, token, proxyExtra string, o Options) *proc {
	t.Helper()
	cfg := strings.Replace(proxyConfig(authAddr, token, ""), "PROXYEXTRA", proxyExtra, 1)
	return startProc(t, "", strings.Replace(cfg, "SSH", "false", 1), o)
}

type readiness struct {
	code   int
	Status string `json:"status"`
	PID    int    `json:"pid"`
}

func readyz(t *testing.T, p *proc) readiness {
	t.Helper()
	resp, err := http.Get("http://" + p.Addr("diag") + "/readyz")
	must(t, err)
	defer resp.Body.Close()
	var r readiness
	must(t, json.NewDecoder(resp.Body).Decode(&r))
	r.code = resp.StatusCode
	return r
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

func waitReady(t *testing.T, p *proc, code int) readiness {
	t.Helper()
	var r readiness
	eventually(t, fmt.Sprintf("/readyz %d (log:\n%s)", code, p.log), func() bool {
		r = readyz(t, p)
		return r.code == code
	})
	return r
}

// logSays waits for a log line containing s.
func logSays(t *testing.T, p *proc, s string) {
	t.Helper()
	eventually(t, fmt.Sprintf("log line %q in:\n%s", s, p.log), func() bool { return strings.Contains(p.log.String(), s) })
}

// stillNotReady checks that /readyz stays 400 while the process has tried
// and failed to join at least twice (the log says so).
func stillNotReady(t *testing.T, p *proc, why string) {
	t.Helper()
	eventually(t, "two failed join attempts logged: "+why, func() bool {
		return strings.Count(p.log.String(), why) >= 2
	})
	if r := readyz(t, p); r.code != http.StatusBadRequest || r.Status != "teleport is starting and hasn't joined the cluster yet" {
		t.Fatalf("/readyz = %d %q, want 400 starting", r.code, r.Status)
	}
	if p.Addr("proxy:web") != "" {
		t.Fatal("the web listener is open before the proxy joined")
	}
}

var insecure = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := insecure.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
	return out
}

// writeKeyPair writes a self-signed pair for cn as tls.key/tls.crt in dir,
// through renames so that a reload never sees half a pair.
func writeKeyPair(t *testing.T, dir, cn string) {
	t.Helper()
	c, err := selfSigned([]string{cn})
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	must(t, err)
	must(t, os.MkdirAll(dir, 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "tls.key.tmp"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tls.crt.tmp"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644))
	must(t, os.Rename(filepath.Join(dir, "tls.key.tmp"), filepath.Join(dir, "tls.key")))
	must(t, os.Rename(filepath.Join(dir, "tls.crt.tmp"), filepath.Join(dir, "tls.crt")))
}

func keyPairYAML(dir, reload string) string {
	return fmt.Sprintf("  https_keypairs:\n    - key_file: %s/tls.key\n      cert_file: %s/tls.crt\n  https_keypairs_reload_interval: %s\n", dir, dir, reload)
}

func pinOf(t *testing.T, name string) string {
	t.Helper()
	ca, err := cluster.DeriveHostCA(name)
	must(t, err)
	return cluster.Pin(ca.Cert)
}

const (
	v17   = "17.7.1"
	oss   = build.EditionCommunity
	ent   = build.EditionEnterprise
	token = "proxy-token-not-a-secret"
)

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	must(t, l.Close())
	return addr
}

func timeout() <-chan time.Time { return time.After(15 * time.Second) }

// authAt is an auth config listening on addr.
func authAt(addr, tokens string) string {
	return strings.Replace(strings.Replace(authConfig(tokens, ""), "127.0.0.1:0\n  tokens", addr+"\n  tokens", 1), "AUTHEXTRA", "", 1)
}
