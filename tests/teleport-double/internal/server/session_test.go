package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"teleportha.ops/teleport-double/internal/cluster"
)

// TestMain lets the test binary be the session child, as Teleport's own tests
// reroute a re-exec (lib/srv.IsReexec).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ExecSubCommand {
		os.Exit(RunExec())
	}
	os.Exit(m.Run())
}

// nodeOnAuth starts an auth server that also runs the SSH Service.
func nodeOnAuth(t *testing.T) *proc {
	t.Helper()
	cfg := strings.Replace(authConfig("", ""), "AUTHEXTRA", "", 1)
	cfg = strings.Replace(cfg, "ssh_service:\n  enabled: false", "ssh_service:\n  enabled: true\n  listen_addr: 127.0.0.1:0", 1)
	p := startProc(t, "", cfg, opts(v17, oss))
	eventually(t, "the node listener", func() bool { return p.Addr("node") != "" })
	return p
}

// sessionAs asks the node for a session with a certificate of the given role.
func sessionAs(t *testing.T, p *proc, role string, req ExecRequest) (int, ExecResponse, string) {
	t.Helper()
	id, err := p.ca.NewIdentity(role, "11111111-2222-4333-8444-555555555555", "caller", nil)
	must(t, err)
	cert, err := id.TLS()
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: cluster.APIDomain}}}
	body, _ := json.Marshal(req)
	resp, err := c.Post("https://"+p.Addr("node")+"/test-double/v1/exec", "application/json", bytes.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out ExecResponse
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// loginWithShell finds a login other than root whose shell is a real one
// (Teleport runs the login's shell: nologin accounts cannot have sessions).
func loginWithShell(t *testing.T) *user.User {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("switching to another login needs root, as for Teleport")
	}
	shells, _ := os.ReadFile("/etc/shells")
	passwd, err := os.ReadFile("/etc/passwd")
	must(t, err)
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] != "0" && f[6] != "" && strings.Contains(string(shells), f[6]+"\n") {
			u, err := user.Lookup(f[0])
			must(t, err)
			return u
		}
	}
	t.Skip("no login other than root has a shell here")
	return nil
}

func TestASessionRunsAsTheLoginItNames(t *testing.T) {
	login := loginWithShell(t)
	p := nodeOnAuth(t)
	code, out, raw := sessionAs(t, p, "Proxy", ExecRequest{Login: login.Username, Command: "id -u; id -g; grep -E '^Cap(Prm|Eff|Amb)' /proc/self/status"})
	if code != http.StatusOK || out.ExitCode != 0 {
		t.Fatalf("status %d: %s", code, raw)
	}
	// The switch from uid 0 cleared every capability (capabilities(7)).
	want := login.Uid + "\n" + login.Gid + "\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n"
	if out.Output != want {
		t.Fatalf("output %q, want %q", out.Output, want)
	}
	logSays(t, p, `Session as "`+login.Username+`" ended with exit code 0`)
}

func TestALoginWithoutAShellHasNoSession(t *testing.T) {
	loginWithShell(t)
	p := nodeOnAuth(t)
	code, out, raw := sessionAs(t, p, "Proxy", ExecRequest{Login: "nobody", Command: "id -u"})
	if code != http.StatusOK || out.ExitCode != 1 || !strings.Contains(out.Output, "not available") {
		t.Fatalf("nobody's nologin shell: status %d: %s", code, raw)
	}
}

func TestATerminalBelongsToTheLogin(t *testing.T) {
	login := loginWithShell(t)
	p := nodeOnAuth(t)
	tty, err := user.LookupGroup("tty")
	must(t, err)
	code, out, raw := sessionAs(t, p, "Proxy", ExecRequest{Login: login.Username, Terminal: true, Command: "stat -c '%u %g %a' $(tty)"})
	if code != http.StatusOK || out.ExitCode != 0 || !strings.HasPrefix(out.TTY, "/dev/pts/") {
		t.Fatalf("status %d: %s", code, raw)
	}
	if got, want := strings.TrimSpace(out.Output), login.Uid+" "+tty.Gid+" 600"; got != want {
		t.Fatalf("the terminal: %q, want %q", got, want)
	}
}

func TestOnlyAProxyStartsASession(t *testing.T) {
	p := nodeOnAuth(t)
	code, _, raw := sessionAs(t, p, "Node", ExecRequest{Login: "root", Command: "true"})
	if code != http.StatusForbidden || !strings.Contains(raw, "through a proxy") {
		t.Fatalf("a Node certificate: status %d: %s", code, raw)
	}
	code, _, raw = sessionAs(t, p, "Proxy", ExecRequest{Login: "../root", Command: "true"})
	if code != http.StatusBadRequest || !strings.Contains(raw, "not a valid host login") {
		t.Fatalf("a login with a slash: status %d: %s", code, raw)
	}
}

func TestAnUnknownLoginFailsToLaunch(t *testing.T) {
	p := nodeOnAuth(t)
	code, out, raw := sessionAs(t, p, "Proxy", ExecRequest{Login: "no-such-login-td", Command: "true"})
	if code != http.StatusOK || out.ExitCode != remoteCommandFailure || !strings.Contains(out.Output, "Failed to launch: user: unknown user no-such-login-td") {
		t.Fatalf("status %d: %s", code, raw)
	}
}

// Without CAP_SETUID the child cannot become the login: the session fails with
// Teleport's message. The child is started here as nobody, as an unprivileged
// Teleport would start it.
func TestWithoutPrivilegesASessionFailsToLaunch(t *testing.T) {
	login := loginWithShell(t)
	nobody, err := user.Lookup("nobody")
	must(t, err)
	// A copy nobody may run: the test binary's own directory is private.
	self, err := os.Executable()
	must(t, err)
	dir, err := os.MkdirTemp("", "td-exec-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	data, err := os.ReadFile(self)
	must(t, err)
	exe := dir + "/teleport"
	must(t, os.WriteFile(exe, data, 0o755))
	cmdr, cmdw, err := os.Pipe()
	must(t, err)
	termr, termw, err := os.Pipe()
	must(t, err)
	defer termw.Close()
	cmd := exec.Command(exe, ExecSubCommand)
	cmd.ExtraFiles = []*os.File{cmdr, termr}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	must(t, cmd.Start())
	cmdr.Close()
	termr.Close()
	must(t, json.NewEncoder(cmdw).Encode(ExecRequest{Login: login.Username, Command: "id -u"}))
	cmdw.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != remoteCommandFailure {
		t.Fatalf("exit: %v; stdout %q", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "Failed to launch: ") || !strings.Contains(stdout.String(), "operation not permitted") {
		t.Fatalf("stdout %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "is Teleport running as root?") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
