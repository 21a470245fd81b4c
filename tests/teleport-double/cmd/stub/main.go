// Command stub is built as tctl, tsh and tbot for the Teleport TEST DOUBLE
// release tarball: each prints its version and implements nothing else.
package main

import (
	"fmt"
	"os"
	"runtime"
)

// name and version are set at build time with -ldflags -X.
var (
	name    = "tctl"
	version = "0.0.0"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Printf("%s: Teleport v%s git:test-double %s (TEST DOUBLE)\n", name, version, runtime.Version())
		return
	}
	fmt.Fprintf(os.Stderr, "%s: only 'version' is implemented by the Teleport test double (TEST DOUBLE)\n", name)
	os.Exit(2)
}
