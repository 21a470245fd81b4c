package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"teleportha.ops/teleport-double/internal/awsfake"
	"teleportha.ops/teleport-double/internal/awsiam"
	"teleportha.ops/teleport-double/internal/cluster"
)

// bins holds the double built as build.sh builds it, per edition.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "teleport-double-bin")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for _, edition := range []string{"community", "ent"} {
			flags := "-X teleportha.ops/teleport-double/internal/build.Version=17.7.1 -X teleportha.ops/teleport-double/internal/build.Edition=" + edition
			for _, target := range []struct{ name, pkg, extra string }{{"teleport", ".", ""}, {"tctl", "../stub", " -X main.name=tctl"}} {
				out := filepath.Join(dir, edition, target.name)
				cmd := exec.Command("go", "build", "-ldflags", flags+target.extra, "-o", out, target.pkg)
				if b, err := cmd.CombinedOutput(); err != nil {
					fmt.Fprintf(os.Stderr, "building %s: %v\n%s", out, err, b)
					return 1
				}
				bins[edition+"/"+target.name] = out
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestVersionPerEdition(t *testing.T) {
	for edition, want := range map[string]string{
		"community": `^Teleport v17\.7\.1 git:test-double go1\.\S+ \(TEST DOUBLE\)\n$`,
		"ent":       `^Teleport Enterprise v17\.7\.1 git:test-double go1\.\S+ \(TEST DOUBLE\)\n$`,
	} {
		out, err := exec.Command(bins[edition+"/teleport"], "version").Output()
		must(t, err)
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("%s: %q does not match %s", edition, out, want)
		}
	}
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "teleport.yaml")
	must(t, os.WriteFile(path, []byte(strings.ReplaceAll(content, "DIR", dir)), 0o600))
	return path
}

func TestConfigureTestParsesOnly(t *testing.T) {
	dir := t.TempDir()
	// Refused by `teleport start` (ApplyFileConfig), not by the parser.
	path := writeConfig(t, dir, "version: v3\nteleport:\n  auth_servers: [a:3025]\n")
	var stderr bytes.Buffer
	cmd := exec.Command(bins["community/teleport"], "configure", "--test", path)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.String() != "OK "+path+" (TEST DOUBLE)\n" {
		t.Fatalf("configure --test: %v, stderr %q", err, stderr.String())
	}
	path = writeConfig(t, dir, "version: v3\nproxy_service:\n  peer_public_adr: x:3021\n")
	stderr.Reset()
	cmd = exec.Command(bins["community/teleport"], "configure", "--test", path)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := exitCode(err); code != 1 || !strings.HasPrefix(stderr.String(), "FAIL "+path+" (TEST DOUBLE)\nERROR: ") || !strings.Contains(stderr.String(), "proxy_service.peer_public_adr") {
		t.Fatalf("unknown key: exit %d, stderr %q", code, stderr.String())
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

const authYAML = `version: v3
teleport:
  nodename: auth-1
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
  log:
    output: stderr
auth_service:
  enabled: true
  cluster_name: teleport.example.com
  listen_addr: 127.0.0.1:0
  tokens: ["proxy:not-a-secret"]
proxy_service:
  enabled: false
ssh_service:
  enabled: false
`

func TestStartRefusalIsOneErrorLineAndExit1(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, authYAML)
	var stderr bytes.Buffer
	cmd := exec.Command(bins["ent/teleport"], "start", "-c", path)
	cmd.Stderr = &stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if exitCode(err) != 1 || !strings.HasPrefix(last, "ERROR: auth_service.license_file: ") || !strings.Contains(last, filepath.Join(dir, "data", "license.pem")) || !strings.HasSuffix(last, "(TEST DOUBLE)") {
		t.Fatalf("exit %d, stderr:\n%s", exitCode(err), stderr.String())
	}
}

// daemon is a running `teleport start` of the built binary.
type daemon struct {
	cmd     *exec.Cmd
	dir     string
	config  string
	pidFile string
	logPath string
	exited  chan error
}

func startDaemon(t *testing.T, edition, content string) *daemon {
	t.Helper()
	return startDaemonWith(t, edition, content, nil)
}

// startDaemonWith adds env to the environment and args to `teleport start`.
func startDaemonWith(t *testing.T, edition, content string, env []string, args ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{dir: dir, config: writeConfig(t, dir, content), pidFile: filepath.Join(dir, "teleport.pid"),
		logPath: filepath.Join(dir, "stderr.log"), exited: make(chan error, 1)}
	logFile, err := os.Create(d.logPath)
	must(t, err)
	t.Cleanup(func() { logFile.Close() })
	d.cmd = exec.Command(bins[edition+"/teleport"], append([]string{"start", "-c", d.config, "--pid-file", d.pidFile}, args...)...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr, d.cmd.Stdout = logFile, logFile
	must(t, d.cmd.Start())
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		// Stop whichever process holds the pid file (a forked child), then ours.
		if pid := d.pid(t); pid > 0 && pid != d.cmd.Process.Pid {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	})
	return d
}

func (d *daemon) pid(t *testing.T) int {
	b, err := os.ReadFile(d.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// state reads the listeners the double wrote to data_dir.
func (d *daemon) listener(t *testing.T, typ string) string {
	t.Helper()
	var s struct {
		PID       int               `json:"pid"`
		Listeners map[string]string `json:"listeners"`
	}
	eventually(t, "test-double-state.json with "+typ, func() bool {
		b, err := os.ReadFile(filepath.Join(d.dir, "data", "test-double-state.json"))
		return err == nil && json.Unmarshal(b, &s) == nil && s.Listeners[typ] != ""
	})
	return s.Listeners[typ]
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

type readiness struct {
	Status string `json:"status"`
	PID    int    `json:"pid"`
}

func readyz(diag string) (int, readiness, error) {
	resp, err := http.Get("http://" + diag + "/readyz")
	if err != nil {
		return 0, readiness{}, err
	}
	defer resp.Body.Close()
	var r readiness
	err = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r, err
}

func waitOK(t *testing.T, d *daemon) string {
	t.Helper()
	diag := d.listener(t, "diag")
	eventually(t, "/readyz 200", func() bool {
		code, _, err := readyz(diag)
		return err == nil && code == 200
	})
	return diag
}

func waitExit(t *testing.T, d *daemon) error {
	t.Helper()
	select {
	case err := <-d.exited:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("the process did not exit:\n%s", d.log())
		return nil
	}
}

func TestSIGTERMAndSIGINTAreFastShutdowns(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		d := startDaemon(t, "community", authYAML)
		waitOK(t, d)
		must(t, d.cmd.Process.Signal(sig))
		if err := waitExit(t, d); err != nil {
			t.Fatalf("%v: exit %v", sig, err)
		}
		if !strings.Contains(d.log(), "exiting immediately.") {
			t.Fatalf("%v: log:\n%s", sig, d.log())
		}
	}
}

func TestSIGQUITIsAGracefulShutdown(t *testing.T) {
	d := startDaemon(t, "community", authYAML)
	waitOK(t, d)
	must(t, d.cmd.Process.Signal(syscall.SIGQUIT))
	if err := waitExit(t, d); err != nil {
		t.Fatalf("exit %v", err)
	}
	if !strings.Contains(d.log(), "Shutting down gracefully.") || !strings.Contains(d.log(), "All services stopped, exiting.") {
		t.Fatalf("log:\n%s", d.log())
	}
}

// SIGHUP is Teleport's graceful restart: a new process on the same sockets,
// then the old one drains and exits.
func TestSIGHUPForksAChildOnTheSameListeners(t *testing.T) {
	d := startDaemon(t, "community", authYAML)
	diag := waitOK(t, d)
	parent := d.cmd.Process.Pid
	must(t, d.cmd.Process.Signal(syscall.SIGHUP))
	if err := waitExit(t, d); err != nil {
		t.Fatalf("parent exit %v:\n%s", err, d.log())
	}
	child := d.pid(t)
	if child == 0 || child == parent {
		t.Fatalf("pid file holds %d after the restart (parent %d)", child, parent)
	}
	code, r, err := readyz(diag)
	if err != nil || code != 200 || r.PID != child {
		t.Fatalf("the same diag address after the restart: %d %+v %v", code, r, err)
	}
	resp, err := http.Get("http://" + diag + "/metrics")
	must(t, err)
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "teleport_test_double_reloads_total 1") {
		t.Fatalf("metrics:\n%s", body.String())
	}
	if !strings.Contains(d.log(), "Using file descriptor auth 127.0.0.1:0 passed by the parent process.") {
		t.Fatalf("the child did not inherit the auth listener:\n%s", d.log())
	}
}

func TestSIGHUPWithABadConfigKeepsTheRunningProcess(t *testing.T) {
	d := startDaemon(t, "community", authYAML)
	diag := waitOK(t, d)
	must(t, os.WriteFile(d.config, []byte(strings.ReplaceAll(authYAML, "DIR", d.dir)+"bogus_section: {}\n"), 0o600))
	must(t, d.cmd.Process.Signal(syscall.SIGHUP))
	eventually(t, "the failed fork logged", func() bool { return strings.Contains(d.log(), "Failed to fork") })
	code, r, err := readyz(diag)
	if err != nil || code != 200 || r.PID != d.cmd.Process.Pid {
		t.Fatalf("after a failed restart: %d %+v %v", code, r, err)
	}
	if !strings.Contains(d.log(), "bogus_section") {
		t.Fatalf("the child's error is not in the log:\n%s", d.log())
	}
}

func TestTctlStatusPrintsTheClusterAndCAPin(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	must(t, l.Close())
	d := startDaemon(t, "community", strings.Replace(authYAML, "listen_addr: 127.0.0.1:0", "listen_addr: "+addr, 1))
	waitOK(t, d)
	out, err := exec.Command(bins["community/tctl"], "status", "-c", d.config).Output()
	if err != nil {
		t.Fatalf("tctl status: %v\n%s", err, out)
	}
	ca, _ := cluster.DeriveHostCA("teleport.example.com")
	for _, want := range []string{
		`(?m)^Cluster +teleport\.example\.com \(TEST DOUBLE\)$`,
		`(?m)^Version +17\.7\.1 \(TEST DOUBLE\)$`,
		`(?m)^host CA +never updated \(TEST DOUBLE\)$`,
		`(?m)^CA pin +` + regexp.QuoteMeta(cluster.Pin(ca.Cert)) + ` \(TEST DOUBLE\)$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("tctl status lacks %s:\n%s", want, out)
		}
	}
	// Column 3 of the pin line is the pin, as scripts read it.
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "CA" && f[1] == "pin" && f[2] != cluster.Pin(ca.Cert) {
			t.Errorf("pin column = %q", f[2])
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, d)
	if out, err := exec.Command(bins["community/tctl"], "status", "-c", d.config).CombinedOutput(); err == nil || !strings.Contains(string(out), "cannot reach the auth server") {
		t.Fatalf("tctl status with the auth down: %v %s", err, out)
	}
}

func writePair(t *testing.T, dir, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
}

func servedCN(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	must(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// SIGHUP on a proxy: the child joins with the stored identity and serves the
// key pair now on disk, on the same web port.
func TestSIGHUPOnAProxyServesTheNewKeyPair(t *testing.T) {
	a := startDaemon(t, "community", authYAML)
	waitOK(t, a)
	tlsDir := t.TempDir()
	writePair(t, tlsDir, "first.example.com")
	p := startDaemon(t, "community", `version: v3
teleport:
  nodename: proxy-a
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
  auth_server: `+a.listener(t, "auth")+`
  join_params: {method: token, token_name: not-a-secret}
auth_service: {enabled: false}
ssh_service: {enabled: false}
proxy_service:
  enabled: true
  web_listen_addr: 127.0.0.1:0
  https_keypairs:
    - key_file: `+tlsDir+`/tls.key
      cert_file: `+tlsDir+`/tls.crt
`)
	waitOK(t, p)
	web := p.listener(t, "proxy:web")
	if cn := servedCN(t, web); cn != "first.example.com" {
		t.Fatalf("CN = %q", cn)
	}
	writePair(t, tlsDir, "second.example.com")
	must(t, p.cmd.Process.Signal(syscall.SIGHUP))
	if err := waitExit(t, p); err != nil {
		t.Fatalf("parent exit %v:\n%s", err, p.log())
	}
	eventually(t, "the new pair served on the same port", func() bool { return servedCN(t, web) == "second.example.com" })
}

// An auth and a proxy of the built binary: the token comes from
// --apply-on-startup, the proxy signs with the AWS credentials of its
// environment, the auth asks a fake STS through the sandbox override.
func TestIAMJoinBetweenTwoProcesses(t *testing.T) {
	sts := awsfake.NewSTS()
	t.Cleanup(sts.Close)
	sts.AddKey("ASIAPROXY", awsfake.Key{Secret: "proxy-secret", SessionToken: "proxy-session", Account: "123456789012",
		Arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc"})
	resources := filepath.Join(t.TempDir(), "tokens.yaml")
	must(t, os.WriteFile(resources, []byte(`kind: token
version: v2
metadata:
  name: proxy-iam
spec:
  roles: [Proxy]
  join_method: iam
  allow:
    - aws_account: "123456789012"
      aws_arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"
`), 0o600))
	a := startDaemonWith(t, "community", authYAML, []string{awsiam.EnvSTSEndpointOverride + "=" + sts.URL}, "--apply-on-startup", resources)
	waitOK(t, a)
	p := startDaemonWith(t, "community", `version: v3
teleport:
  nodename: proxy-a
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
  auth_server: `+a.listener(t, "auth")+`
  join_params: {method: iam, token_name: proxy-iam}
auth_service: {enabled: false}
ssh_service: {enabled: false}
proxy_service: {enabled: true, web_listen_addr: 127.0.0.1:0}
`, []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-west-2", "AWS_ACCESS_KEY_ID=ASIAPROXY",
		"AWS_SECRET_ACCESS_KEY=proxy-secret", "AWS_SESSION_TOKEN=proxy-session"})
	waitOK(t, p)
	if !strings.Contains(a.log(), `has joined the cluster with role Proxy. join_method=iam aws_arn="arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc"`) {
		t.Fatalf("auth log:\n%s", a.log())
	}
	if hosts := sts.Hosts(); len(hosts) == 0 || hosts[0] != "sts.us-west-2.amazonaws.com" {
		t.Fatalf("STS saw %v", hosts)
	}
	for _, secret := range []string{"proxy-secret", "proxy-session"} {
		if strings.Contains(a.log()+p.log(), secret) {
			t.Fatalf("a log holds the AWS secret %q", secret)
		}
	}
}

func TestApplyOnStartupNeedsAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(bins["community/teleport"], "start", "-c", writeConfig(t, dir, authYAML), "--apply-on-startup", filepath.Join(dir, "missing.yaml"))
	cmd.Stderr = &stderr
	if err := cmd.Run(); exitCode(err) != 2 || !strings.Contains(stderr.String(), "--apply-on-startup: path '"+filepath.Join(dir, "missing.yaml")+"' does not exist") {
		t.Fatalf("exit %d, stderr %q", exitCode(err), stderr.String())
	}
}
