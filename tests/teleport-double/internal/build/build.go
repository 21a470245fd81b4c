// Package build holds what build.sh stamps into every binary of the Teleport
// TEST DOUBLE: the Teleport version it impersonates and the edition. Both
// editions are built from this one source; only these variables differ.
package build

import (
	"fmt"
	"runtime"
)

// Set with -ldflags "-X teleportha.ops/teleport-double/internal/build.Version=17.7.1
// -X teleportha.ops/teleport-double/internal/build.Edition=ent".
var (
	Version = "0.0.0"
	// Edition is Teleport's build type: "community" for the teleport-v*
	// release tarballs (gravitational's Makefile links
	// lib/modules.teleportBuildType=community into them), "ent" for teleport-ent.
	Edition = EditionCommunity
)

// Build types, as lib/modules defines them (BuildOSS is a from-source build,
// which no release tarball contains).
const (
	EditionOSS        = "oss"
	EditionCommunity  = "community"
	EditionEnterprise = "ent"
)

// Marker is appended to every line the double prints.
const Marker = "(TEST DOUBLE)"

// Enterprise reports whether this binary is the Enterprise build.
func Enterprise() bool { return Edition == EditionEnterprise }

// VersionLine is what `teleport version` prints.
// mirrors lib/modules.(*defaultModules).PrintVersion ("Teleport v%s git:%s %s")
// and e/lib/modules.(*enterpriseModules).PrintVersion ("Teleport Enterprise v%s git:%s %s").
func VersionLine() string {
	product := "Teleport"
	if Enterprise() {
		product = "Teleport Enterprise"
	}
	return fmt.Sprintf("%s v%s git:test-double %s %s", product, Version, runtime.Version(), Marker)
}
