// Command teleport is the Teleport TEST DOUBLE used by the sandbox and CI,
// where the real binary cannot be downloaded. It checks teleport.yaml at the
// stages Teleport does, joins auth and proxy doubles into a cluster and opens
// the same listeners; it implements no SSH, web UI or tunnel protocol.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"teleportha.ops/teleport-double/internal/build"
	"teleportha.ops/teleport-double/internal/config"
	"teleportha.ops/teleport-double/internal/server"
)

const usage = `usage: teleport <command> (TEST DOUBLE)
  version                                  print the version
  configure --test FILE                    check FILE as Teleport parses it and exit
  start [--config FILE|-c FILE] [--pid-file FILE] [--diag-addr HOST:PORT] [--apply-on-startup FILE] [--skip-version-check] [-d]
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ERROR: "+format+" "+build.Marker+"\n", args...)
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Println(build.VersionLine())
		return 0
	case "configure":
		return configure(args[1:])
	case "start":
		return start(args[1:])
	case server.ExecSubCommand:
		// The session child Teleport re-executes (lib/srv.RunAndExit).
		return server.RunExec()
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "teleport: unknown command %q %s\n%s", args[0], build.Marker, usage)
	return 2
}

// flagValue handles "--name VALUE" and "--name=VALUE".
func flagValue(args []string, i int, names ...string) (string, int, bool) {
	for _, n := range names {
		if args[i] == n {
			if i+1 >= len(args) {
				return "", i, false
			}
			return args[i+1], i + 1, true
		}
		if v, ok := strings.CutPrefix(args[i], n+"="); ok {
			return v, i, true
		}
	}
	return "", i, false
}

// configure --test mirrors tool/teleport/common.onConfigDump: the file is
// read with lib/config.ReadFromFile only (parse, no apply), and the result is
// "OK <file>" or "FAIL <file>" on stderr.
func configure(args []string) int {
	var file string
	for i := 0; i < len(args); i++ {
		if v, j, ok := flagValue(args, i, "--test"); ok {
			file, i = v, j
			continue
		}
		fmt.Fprintf(os.Stderr, "teleport configure: the double supports only --test FILE, got %q %s\n", args[i], build.Marker)
		return 2
	}
	if file == "" {
		fmt.Fprintf(os.Stderr, "teleport configure: --test FILE is required %s\n", build.Marker)
		return 2
	}
	if _, err := config.Load(file); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL %s %s\n", file, build.Marker)
		errorf("%v", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "OK %s %s\n", file, build.Marker)
	return 0
}

func start(args []string) int {
	opts := server.Options{ConfigPath: "/etc/teleport.yaml"}
	for i := 0; i < len(args); i++ {
		if v, j, ok := flagValue(args, i, "--config", "-c"); ok {
			opts.ConfigPath, i = v, j
			continue
		}
		if v, j, ok := flagValue(args, i, "--diag-addr"); ok {
			opts.DiagAddr, i = v, j
			continue
		}
		if v, j, ok := flagValue(args, i, "--pid-file"); ok {
			opts.PIDFile, i = v, j
			continue
		}
		// Teleport's kingpin flag is an ExistingFileVar: a missing file is a
		// usage error, before anything starts.
		if v, j, ok := flagValue(args, i, "--apply-on-startup"); ok {
			if st, err := os.Stat(v); err != nil || st.IsDir() {
				fmt.Fprintf(os.Stderr, "teleport start: --apply-on-startup: path '%s' does not exist or is not a file %s\n", v, build.Marker)
				return 2
			}
			opts.ApplyOnStartupFile, i = v, j
			continue
		}
		switch args[i] {
		case "-d", "--debug":
			continue
		case "--skip-version-check":
			opts.SkipVersionCheck = true
			continue
		}
		fmt.Fprintf(os.Stderr, "teleport start: unknown flag %q %s\n", args[i], build.Marker)
		return 2
	}
	// Signals are caught before anything starts so that none is lost.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	p, err := server.New(opts)
	if err != nil {
		errorf("%v", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		p.Close()
		errorf("%v", err)
		return 1
	}
	return waitForSignals(p, sigs)
}

// waitForSignals mirrors lib/service.(*TeleportProcess).WaitForSignals:
// SIGQUIT is a graceful shutdown, SIGTERM and SIGINT a fast one, SIGHUP a
// graceful restart (fork a child that inherits the listeners, then shut down
// gracefully), SIGUSR2 a fork only, SIGUSR1 logs diagnostics. A critical
// service failing ends the process with an error.
func waitForSignals(p *server.Process, sigs <-chan os.Signal) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[teleport] "+format+" "+build.Marker+"\n", args...)
	}
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGQUIT:
				p.Shutdown(context.Background())
				return 0
			case syscall.SIGTERM, syscall.SIGINT:
				logf("Got signal %q, exiting immediately.", sig)
				p.Close()
				return 0
			case syscall.SIGUSR1:
				logf("Got signal %q, logging diagnostic info to stderr.", sig)
				p.LogDiagnostics()
			case syscall.SIGUSR2:
				logf("Got signal %q, forking a new process.", sig)
				if err := p.ForkChild(); err != nil {
					logf("Failed to fork: %v", err)
					p.ForkFailed()
				} else {
					logf("Successfully started new process.")
				}
			case syscall.SIGHUP:
				logf("Got signal %q, performing graceful restart.", sig)
				if err := p.ForkChild(); err != nil {
					logf("Failed to fork: %v", err)
					p.ForkFailed()
					continue
				}
				logf("Successfully started new process, shutting down gracefully.")
				p.Shutdown(context.Background())
				return 0
			}
		case err := <-p.Fatal():
			p.Close()
			errorf("%v", err)
			return 1
		}
	}
}
