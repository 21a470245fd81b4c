package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Semver is the part of a Teleport version the version rules read.
type Semver struct {
	Major, Minor, Patch int
	Pre                 string
}

// ParseSemver parses "17.7.1" or "v17.7.1-dev".
func ParseSemver(v string) (Semver, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	core, pre, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Semver{}, fmt.Errorf("%q is not a semantic version", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return Semver{}, fmt.Errorf("%q is not a semantic version", v)
		}
		n[i] = x
	}
	return Semver{n[0], n[1], n[2], pre}, nil
}

func (s Semver) String() string {
	out := fmt.Sprintf("%d.%d.%d", s.Major, s.Minor, s.Patch)
	if s.Pre != "" {
		out += "-" + s.Pre
	}
	return out
}

// Less orders versions; a pre-release sorts before its release.
func (s Semver) Less(o Semver) bool {
	if s.Major != o.Major {
		return s.Major < o.Major
	}
	if s.Minor != o.Minor {
		return s.Minor < o.Minor
	}
	if s.Patch != o.Patch {
		return s.Patch < o.Patch
	}
	return s.Pre != "" && (o.Pre == "" || s.Pre < o.Pre)
}

// MinClientVersion mirrors teleport.MinClientSemVersion: one major back, with
// pre-release "aa" so that that major's alpha, beta and dev builds pass.
func MinClientVersion(server Semver) Semver {
	return Semver{Major: server.Major - 1, Pre: "aa"}
}

// ClientTooOld is the auth's side of the version compatibility rule.
// mirrors lib/auth.(*Middleware).ValidateClientVersion with
// OldestSupportedVersion = teleport.MinClientSemVersion (set in
// lib/auth.NewTLSServer); TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes disables it.
func ClientTooOld(server, client Semver) bool {
	if os.Getenv("TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS") == "yes" {
		return false
	}
	return client.Less(MinClientVersion(server))
}

// AuthServerTooOld is the joining instance's side.
// mirrors lib/service.(*TeleportProcess).authServerTooOld and invalidVersionErr:
// an instance of a newer major than its auth server refuses to run, unless
// started with --skip-version-check.
func AuthServerTooOld(auth, local Semver) error {
	if auth.Major < local.Major {
		return fmt.Errorf("Teleport instance is too new. This instance is running v%d. The auth server is running v%d and only supports instances on v%d or v%d. To connect anyway pass the --skip-version-check flag.",
			local.Major, auth.Major, auth.Major, auth.Major-1)
	}
	return nil
}

// skipVersionCheckEnv is lib/auth.skipVersionUpgradeCheckEnv.
const skipVersionCheckEnv = "TELEPORT_UNSTABLE_SKIP_VERSION_UPGRADE_CHECK"

// VersionFile is where the double records the last version its auth service
// ran. Teleport keeps it in the backend (BackendInfo, v17.5+ and v18) with a
// fallback to process storage in the data dir; the double has no shared
// backend, so the record lives in data_dir and protects only that host's
// state (the gap upstream issue #49848 describes for local storage).
const VersionFile = "test-double-teleport-version"

// CheckAndRecordVersion is the auth service's upgrade-path guard, run before
// the auth service initialises.
//
// mirrors lib/auth.validateAndUpdateTeleportVersion (BackendInfo variant):
//   - no recorded version (a fresh data dir): record this one and start;
//   - same version: nothing to do;
//   - more than one major newer than the record: refuse (skipped a major);
//   - any older major than the record: refuse (major downgrade);
//   - otherwise record this version.
//
// TELEPORT_UNSTABLE_SKIP_VERSION_UPGRADE_CHECK (any value) skips the checks
// and records this version (lib/auth.upsertTeleportVersion).
func CheckAndRecordVersion(dataDir string, current Semver) error {
	path := filepath.Join(dataDir, VersionFile)
	record := func() error {
		return os.WriteFile(path, []byte(current.String()+"\n"), 0o600)
	}
	if os.Getenv(skipVersionCheckEnv) != "" {
		return record()
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record()
	}
	if err != nil {
		return fmt.Errorf("reading the last known Teleport version: %v", err)
	}
	last, err := ParseSemver(string(data))
	if err != nil {
		return fmt.Errorf("failed to parse teleport version: %q in %s", strings.TrimSpace(string(data)), path)
	}
	if last == current {
		return nil
	}
	if current.Major-last.Major > 1 {
		return fmt.Errorf("Unsupported upgrade path detected: from %v to %v. Teleport supports direct upgrades to the next major version only. Please upgrade your cluster to version %d.x.x first. See compatibility guarantees for details: https://goteleport.com/docs/upgrading/overview/#component-compatibility.",
			last, current, last.Major+1)
	}
	if last.Major > current.Major {
		return fmt.Errorf("Unsupported downgrade path detected: from %v to %v. Teleport doesn't support major version downgrades. Downgrading may lead to an inconsistent cluster state. Use at your own risk: to allow downgrading, set the environment variable `TELEPORT_UNSTABLE_SKIP_VERSION_UPGRADE_CHECK=yes`. See our upgrading guide for details: https://goteleport.com/docs/upgrading/overview/#component-compatibility.",
			last, current)
	}
	return record()
}
