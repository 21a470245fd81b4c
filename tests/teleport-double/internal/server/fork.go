package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// What the graceful-restart fork passes to the child, as lib/service does.
const (
	filesEnvVar = "TELEPORT_OS_FILES" // lib/service.teleportFilesEnvVar
	// generationEnvVar counts graceful restarts so that the double's reload
	// counter survives the fork (Teleport has no such counter).
	generationEnvVar  = "TELEPORT_TEST_DOUBLE_GENERATION"
	signalPipeName    = "teleport-signal-pipe"
	signalPipeTimeout = 2 * time.Minute // lib/service.signalPipeTimeout
)

// inheritedFD is one descriptor passed by the parent process.
type inheritedFD struct {
	Type    string
	Address string
	File    *os.File
}

type fileDescriptor struct {
	Address  string `json:"addr"`
	Type     string `json:"type"`
	FileFD   int    `json:"fd"`
	FileName string `json:"fileName"`
}

// importFileDescriptors mirrors lib/service.importFileDescriptors.
func importFileDescriptors() ([]inheritedFD, error) {
	s := os.Getenv(filesEnvVar)
	_ = os.Unsetenv(filesEnvVar)
	if s == "" {
		return nil, nil
	}
	var in []fileDescriptor
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("child process has failed to read files, error %q", err)
	}
	out := make([]inheritedFD, 0, len(in))
	for _, d := range in {
		out = append(out, inheritedFD{Type: d.Type, Address: d.Address, File: os.NewFile(uintptr(d.FileFD), d.FileName)})
	}
	return out, nil
}

// importOrCreateListener mirrors lib/service.(*TeleportProcess).importOrCreateListener:
// a listener of the same type and configured address passed by the parent is
// reused, so that a graceful restart never refuses a connection.
func (p *Process) importOrCreateListener(typ, address string) (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listenersClosed {
		return nil, errors.New("listening is blocked")
	}
	for i, d := range p.inherited {
		if d.Type == typ && d.Address == address {
			l, err := net.FileListener(d.File)
			_ = d.File.Close()
			p.inherited = append(p.inherited[:i], p.inherited[i+1:]...)
			if err != nil {
				return nil, err
			}
			p.logf("Using file descriptor %v %v passed by the parent process.", typ, address)
			p.registerListenerLocked(typ, address, l)
			return l, nil
		}
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	p.registerListenerLocked(typ, address, l)
	return l, nil
}

func (p *Process) registerListenerLocked(typ, address string, l net.Listener) {
	p.listeners = append(p.listeners, registeredListener{typ: typ, address: address, l: l})
	p.Addrs[typ] = l.Addr().String()
}

// closeImportedDescriptors closes what the parent passed but this process did
// not use (for example after a listen address changed).
func (p *Process) closeImportedDescriptors() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.inherited {
		p.logf("Closing imported but unused descriptor %v %v.", d.Type, d.Address)
		_ = d.File.Close()
	}
	p.inherited = nil
}

// ForkChild is SIGHUP's and SIGUSR2's first step.
// mirrors lib/service.(*TeleportProcess).forkChild: the binary is started
// again with the same arguments and the listening sockets, then the parent
// waits for the child to write to the signal pipe once it is ready. Unlike
// Teleport, the parent closes its end of the pipe at once, so a child that
// dies (a bad teleport.yaml) is noticed at once rather than after the
// 2-minute signalPipeTimeout.
func (p *Process) ForkChild() error {
	path, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	p.mu.Lock()
	descs := make([]fileDescriptor, 0, len(p.listeners)+1)
	files := make([]*os.File, 0, len(p.listeners)+1)
	for _, rl := range p.listeners {
		f, err := rl.l.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			p.mu.Unlock()
			_ = w.Close()
			return err
		}
		defer f.Close()
		descs = append(descs, fileDescriptor{Address: rl.address, Type: rl.typ, FileFD: 3 + len(files), FileName: f.Name()})
		files = append(files, f)
	}
	p.mu.Unlock()
	descs = append(descs, fileDescriptor{Address: "127.0.0.1:0", Type: signalPipeName, FileFD: 3 + len(files), FileName: w.Name()})
	files = append(files, w)
	vals, _ := json.Marshal(descs)

	cmd := exec.Command(path, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), filesEnvVar+"="+string(vals), generationEnvVar+"="+strconv.Itoa(p.generation+1))
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return err
	}
	_ = w.Close()
	p.logf("Forked new child process. pid=%d", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	msg := make(chan string, 1)
	go func() {
		buf := make([]byte, 1024)
		n, err := r.Read(buf)
		if err != nil {
			close(msg)
			return
		}
		msg <- string(buf[:n])
	}()
	select {
	case m, ok := <-msg:
		if ok {
			p.logf("Received message from pid %v: %v", cmd.Process.Pid, m)
			return nil
		}
		err := <-exited
		return fmt.Errorf("forked process %d exited before it was ready: %v", cmd.Process.Pid, err)
	case err := <-exited:
		return fmt.Errorf("forked process %d exited before it was ready: %v", cmd.Process.Pid, err)
	case <-time.After(signalPipeTimeout):
		return errors.New("Failed waiting from process")
	}
}

// notifyParent mirrors lib/service.(*TeleportProcess).notifyParent: a forked
// child tells its parent it is ready, or shuts itself down when it cannot get
// ready within signalPipeTimeout.
func (p *Process) notifyParent(ctx context.Context) {
	p.mu.Lock()
	var pipe *os.File
	for i, d := range p.inherited {
		if d.Type == signalPipeName {
			pipe = d.File
			p.inherited = append(p.inherited[:i], p.inherited[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if pipe == nil {
		return
	}
	defer pipe.Close()
	deadline := time.Now().Add(signalPipeTimeout)
	for p.state.overall() != stateOK {
		if time.Now().After(deadline) {
			p.logf("Timeout waiting for a forked process to start. Initiating self-shutdown.")
			p.fail(errors.New("forked process did not become ready within the signal pipe timeout"))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond): // polling the state, bounded by the deadline
		}
	}
	_, _ = fmt.Fprintf(pipe, "Process %v has started.", os.Getpid())
	p.logf("New service has started successfully.")
}
