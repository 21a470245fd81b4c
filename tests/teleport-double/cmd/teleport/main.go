// Command teleport is the Teleport TEST DOUBLE used by the sandbox and CI,
// where the real binary cannot be downloaded. It parses teleport.yaml as
// strictly as Teleport and opens the same listeners, nothing more.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"teleportha.ops/teleport-double/internal/config"
	"teleportha.ops/teleport-double/internal/server"
)

// version is set at build time (-ldflags "-X main.version=17.7.1").
var version = "0.0.0"

const usage = `usage: teleport <command> (TEST DOUBLE)
  version                                  print the version
  configure --test FILE                    validate FILE strictly and exit
  start [--config FILE|-c FILE] [--pid-file FILE] [--diag-addr HOST:PORT] [-d]
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Printf("Teleport v%s git:test-double %s %s\n", version, runtime.Version(), server.Marker)
		return 0
	case "configure":
		return configure(args[1:])
	case "start":
		return start(args[1:])
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "teleport: unknown command %q %s\n%s", args[0], server.Marker, usage)
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

func configure(args []string) int {
	var file string
	for i := 0; i < len(args); i++ {
		if v, j, ok := flagValue(args, i, "--test"); ok {
			file, i = v, j
			continue
		}
		fmt.Fprintf(os.Stderr, "teleport configure: the double supports only --test FILE, got %q %s\n", args[i], server.Marker)
		return 2
	}
	if file == "" {
		fmt.Fprintf(os.Stderr, "teleport configure: --test FILE is required %s\n", server.Marker)
		return 2
	}
	if _, err := config.Load(file); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v %s\n", err, server.Marker)
		return 1
	}
	fmt.Printf("%s is a valid Teleport v3 configuration %s\n", file, server.Marker)
	return 0
}

func start(args []string) int {
	configPath, diagAddr, pidFile := "/etc/teleport.yaml", "", ""
	for i := 0; i < len(args); i++ {
		if v, j, ok := flagValue(args, i, "--config", "-c"); ok {
			configPath, i = v, j
			continue
		}
		if v, j, ok := flagValue(args, i, "--diag-addr"); ok {
			diagAddr, i = v, j
			continue
		}
		if v, j, ok := flagValue(args, i, "--pid-file"); ok {
			pidFile, i = v, j
			continue
		}
		if args[i] == "-d" || args[i] == "--debug" {
			continue
		}
		fmt.Fprintf(os.Stderr, "teleport start: unknown flag %q %s\n", args[i], server.Marker)
		return 2
	}
	p, err := server.New(version, configPath, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v %s\n", err, server.Marker)
		return 1
	}
	p.DiagAddr = diagAddr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v %s\n", err, server.Marker)
		return 1
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "ERROR: --pid-file: %v %s\n", err, server.Marker)
			return 1
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			_ = p.Reload()
			continue
		}
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.Shutdown(sctx)
		scancel()
		return 0
	}
	return 0
}
