package server

// The SSH Service's session start: the one part of Teleport that needs
// privileges, modelled so that the sandbox proves what the unit grants.
//
// Teleport's node starts every session by re-executing itself as
// "teleport exec" (lib/srv/reexec.go, ConfigureCommand), which looks the login
// up (user.Lookup) and starts the login's shell with the login's credentials
// when they differ from its own (buildCommand, then
// lib/utils/host.MaybeSetCommandCredentialAsUser: setgroups, setgid and setuid
// at exec): CAP_SETUID and CAP_SETGID. For a terminal the parent first gives
// the TTY to the login (lib/srv/term.go, setOwner: Lchown to the login and the
// tty group, then Chmod 0600; 0620 to the login's group without a tty group):
// CAP_CHOWN, and CAP_FOWNER for the chmod of a file it no longer owns. When the
// client goes, the child kills the shell (reexec.go, waitForShell:
// cmd.Process.Kill), a process of another user: CAP_KILL. Without them the
// start fails with "operation not permitted", and Teleport logs "Failed to
// launch subprocess, is Teleport running as root?" (reexec.go, RunAndExit).
//
// The double speaks no SSH. A session is asked for over HTTPS on the SSH
// Service's listener by a holder of a Proxy host certificate of the cluster:
// the hop a Teleport proxy makes to a node on a user's behalf. It models no
// RBAC (which logins a user's certificate allows); it stands in for the
// privilege step only.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"teleportha.ops/teleport-double/internal/cluster"
)

// ExecSubCommand is teleport.ExecSubCommand, the re-exec's argv[1].
const ExecSubCommand = "exec"

// remoteCommandFailure is teleport.RemoteCommandFailure.
const remoteCommandFailure = 255

// sessionTimeout bounds a session of the double: past it the parent closes
// the terminate pipe and the child kills the shell, as when a client goes.
const sessionTimeout = 30 * time.Second

// ExecRequest is what a proxy asks of a node. ExecCommand is the payload the
// parent sends the child on the command pipe (reexec.go, ExecCommand; the
// fields the double uses, with Teleport's JSON names).
type ExecRequest struct {
	Login    string `json:"login"`
	Command  string `json:"command"`
	Terminal bool   `json:"term"`
}

// ExecResponse is the session's outcome, as the proxy would relay it.
type ExecResponse struct {
	ExitCode int    `json:"exit_code"`
	Output   string `json:"output"`
	TTY      string `json:"tty,omitempty"`
}

// Files the parent passes the child, from fd 3 (reexec.go: CommandFile,
// then TerminateFile; the TTY after them when a terminal was asked for).
const (
	commandFD   = 3
	terminateFD = 4
	ttyFD       = 5
)

func validLogin(login string) error {
	// Teleport refuses what no host can have as a login before it re-execs
	// (lib/srv.(*ServerContext) and the SSH handshake); the double refuses what
	// would be unsafe to pass on.
	if login == "" || len(login) > 32 || strings.ContainsAny(login, "/:\n\r\x00 ") {
		return fmt.Errorf("login %q: not a valid host login", login)
	}
	return nil
}

// handleExec is the node's side: only a proxy of this cluster may ask.
func (p *Process) handleExec(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		replyError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || cluster.RoleOf(r.TLS.PeerCertificates[0]) != "Proxy" {
		replyError(w, http.StatusForbidden, "access denied: a session on a node is started through a proxy of cluster %q", p.rt.Auth.ClusterName)
		return
	}
	var req ExecRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, "bad session request: %v", err)
		return
	}
	if err := validLogin(req.Login); err != nil {
		replyError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), sessionTimeout)
	defer cancel()
	resp, err := p.startSession(ctx, req)
	if err != nil {
		replyError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	p.logf("Session as %q ended with exit code %d", req.Login, resp.ExitCode)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// startSession mirrors lib/srv.ConfigureCommand and the terminal's setOwner.
func (p *Process) startSession(ctx context.Context, req ExecRequest) (*ExecResponse, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmdr, cmdw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cmdr.Close()
	termr, termw, err := os.Pipe()
	if err != nil {
		cmdw.Close()
		return nil, err
	}
	defer termr.Close()
	defer termw.Close()
	cmd := exec.Command(exe, ExecSubCommand)
	cmd.Env = []string{}
	// A shell's background job may hold the output pipe past the shell.
	cmd.WaitDelay = 2 * time.Second
	cmd.ExtraFiles = []*os.File{cmdr, termr}
	var out bytes.Buffer
	var ptm *os.File
	resp := &ExecResponse{}
	if req.Terminal {
		var pts *os.File
		ptm, pts, err = openPTY()
		if err != nil {
			cmdw.Close()
			return nil, fmt.Errorf("allocate a terminal: %v", err)
		}
		defer ptm.Close()
		defer pts.Close()
		if err := setTTYOwner(pts.Name(), req.Login); err != nil {
			cmdw.Close()
			return nil, fmt.Errorf("set the owner of %s for %q: %v", pts.Name(), req.Login, err)
		}
		resp.TTY = pts.Name()
		cmd.ExtraFiles = append(cmd.ExtraFiles, pts)
	} else {
		cmd.Stdout, cmd.Stderr = &out, &out
	}
	if err := cmd.Start(); err != nil {
		cmdw.Close()
		return nil, err
	}
	go func() {
		defer cmdw.Close()
		_ = json.NewEncoder(cmdw).Encode(req)
	}()
	// The terminal's output is read until every holder of the TTY is gone
	// (EIO from the master).
	copied := make(chan struct{})
	if ptm != nil {
		cmd.ExtraFiles[len(cmd.ExtraFiles)-1].Close()
		go func() {
			_, _ = io.Copy(&out, ptm)
			close(copied)
		}()
	} else {
		close(copied)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		termw.Close()
		err = <-done
	}
	if ptm != nil {
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
	}
	resp.Output = out.String()
	resp.ExitCode = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		resp.ExitCode = ee.ExitCode()
	} else if err != nil {
		return nil, err
	}
	return resp, nil
}

// ttyOwner mirrors lib/srv/term.go getOwner.
func ttyOwner(login string) (uid, gid int, mode os.FileMode, err error) {
	u, err := user.Lookup(login)
	if err != nil {
		return 0, 0, 0, err
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, 0, err
	}
	if g, gerr := user.LookupGroup("tty"); gerr == nil {
		gid, err = strconv.Atoi(g.Gid)
		return uid, gid, 0o600, err
	}
	gid, err = strconv.Atoi(u.Gid)
	return uid, gid, 0o620, err
}

func setTTYOwner(path, login string) error {
	uid, gid, mode, err := ttyOwner(login)
	if err != nil {
		return err
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname).
func openPTY() (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		ptm.Close()
		return nil, nil, e
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		ptm.Close()
		return nil, nil, e
	}
	name := "/dev/pts/" + strconv.Itoa(int(n))
	pts, err = os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	return ptm, pts, nil
}

// RunExec is "teleport exec", the child: lib/srv.RunCommand with
// buildCommand and waitForShell. It returns the process's exit code.
func RunExec() int {
	code, err := runExec()
	if err != nil {
		// reexec.go, RunAndExit.
		if strings.Contains(err.Error(), "operation not permitted") {
			fmt.Fprintf(os.Stderr, "ERROR Failed to launch subprocess, is Teleport running as root? command_type=exec err=%q %s\n", err, Marker)
		} else {
			fmt.Fprintf(os.Stderr, "ERROR Failed to launch subprocess command_type=exec err=%q %s\n", err, Marker)
		}
	}
	return code
}

func runExec() (int, error) {
	cmdfd := os.NewFile(commandFD, "command")
	terminatefd := os.NewFile(terminateFD, "terminate")
	var c ExecRequest
	if err := json.NewDecoder(cmdfd).Decode(&c); err != nil {
		return remoteCommandFailure, err
	}
	var tty *os.File
	if c.Terminal {
		tty = os.NewFile(ttyFD, "tty")
	}
	// RunCommand writes a launch failure to stdout, and to the TTY.
	fail := func(err error) (int, error) {
		var w io.Writer = os.Stdout
		if tty != nil {
			w = io.MultiWriter(os.Stdout, tty)
		}
		fmt.Fprintf(w, "Failed to launch: %v.\r\n", err)
		return remoteCommandFailure, err
	}
	if err := validLogin(c.Login); err != nil {
		return fail(err)
	}
	u, err := user.Lookup(c.Login)
	if err != nil {
		return fail(err)
	}
	shell := loginShell(c.Login)
	cmd := exec.Command(shell)
	if c.Command == "" {
		cmd.Args = []string{"-" + shell[strings.LastIndex(shell, "/")+1:]}
	} else {
		cmd.Args = []string{shell, "-c", c.Command}
	}
	cmd.Env = []string{"LANG=en_US.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + u.HomeDir, "USER=" + c.Login, "SHELL=" + shell}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if tty != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty = true
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	cmd.Dir = "/"
	if st, err := os.Stat(u.HomeDir); err == nil && st.IsDir() {
		cmd.Dir = u.HomeDir
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// host.MaybeSetCommandCredentialAsUser: only for another user.
	if uid != os.Getuid() || gid != os.Getgid() {
		var groups []uint32
		ids, err := u.GroupIds()
		if err != nil {
			return fail(err)
		}
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil {
				groups = append(groups, uint32(g))
			}
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	// waitForShell: the parent closing the terminate pipe kills the shell.
	result := make(chan error, 2)
	go func() {
		_, rerr := terminatefd.Read(make([]byte, 1))
		if errors.Is(rerr, io.EOF) {
			result <- fmt.Errorf("shell process has been killed: %v", cmd.Process.Kill())
			return
		}
		result <- fmt.Errorf("failed to read from terminate file: %v", rerr)
	}()
	go func() { result <- cmd.Wait() }()
	err = <-result
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return remoteCommandFailure, err
	}
	return 0, nil
}

// loginShell mirrors lib/shell.GetLoginShell: the passwd entry's shell, else
// /bin/sh.
func loginShell(login string) string {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == login && f[6] != "" {
			return f[6]
		}
	}
	return "/bin/sh"
}
