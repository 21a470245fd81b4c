package cluster

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostCAIsTheSameOnEveryAuthOfACluster(t *testing.T) {
	a, err := DeriveHostCA("teleport.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveHostCA("teleport.example.com")
	other, _ := DeriveHostCA("other.example.com")
	if Pin(a.Cert) != Pin(b.Cert) {
		t.Fatalf("two derivations of one cluster differ: %s vs %s", Pin(a.Cert), Pin(b.Cert))
	}
	if Pin(a.Cert) == Pin(other.Cert) {
		t.Fatal("two clusters share a CA")
	}
	// A certificate issued by one auth verifies against the other's CA cert.
	id, err := a.NewIdentity("Proxy", "host-1", "proxy-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(id.CertPEM)
	leaf, _ := x509.ParseCertificate(block.Bytes)
	pool := x509.NewCertPool()
	pool.AddCert(b.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: APIDomain, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued by auth A, verified against auth B's CA: %v", err)
	}
	if RoleOf(leaf) != "Proxy" {
		t.Errorf("role = %q", RoleOf(leaf))
	}
}

func TestPinIsTheSPKIHashTeleportComputes(t *testing.T) {
	ca, _ := DeriveHostCA("teleport.example.com")
	spki, err := x509.MarshalPKIXPublicKey(ca.Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	if want := "sha256:" + hex.EncodeToString(sum[:]); Pin(ca.Cert) != want {
		t.Fatalf("pin %s, want %s", Pin(ca.Cert), want)
	}
}

func TestCheckPins(t *testing.T) {
	ca, _ := DeriveHostCA("teleport.example.com")
	certs := []*x509.Certificate{ca.Cert}
	if err := CheckPins([]string{"sha256:00", Pin(ca.Cert)}, certs); err != nil {
		t.Fatalf("one matching pin: %v", err)
	}
	for pin, want := range map[string]string{"sha256:00": "cluster pin does not match", "abc": "invalid format", "md5:00": "sha256 only"} {
		if err := CheckPins([]string{pin}, certs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pin %q: err = %v, want %q", pin, err, want)
		}
	}
}

func TestLicenseCheck(t *testing.T) {
	dir := t.TempDir()
	lic, err := NewTestLicense()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "license.pem")
	if err := os.WriteFile(good, lic, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckLicense(good, dir); err != nil {
		t.Fatalf("test license refused: %v", err)
	}
	certOnly := filepath.Join(dir, "cert-only.pem")
	block, _ := pem.Decode(lic)
	if err := os.WriteFile(certOnly, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, _ := DeriveHostCA("x")
	noPayload := filepath.Join(dir, "no-payload.pem")
	rest := lic[len(pem.EncodeToMemory(block)):]
	if err := os.WriteFile(noPayload, append(append([]byte{}, ca.CertPEM...), rest...), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "unable to read license file",
		certOnly:                          "cert or key PEM data is missing",
		noPayload:                         "does not contain extension with license payload",
	} {
		err := CheckLicense(path, dir)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(dir, "license.pem")) {
			t.Errorf("%s: err = %v, want %q and the default location", filepath.Base(path), err, want)
		}
	}
}

func TestVersionGuard(t *testing.T) {
	v := func(s string) Semver {
		x, err := ParseSemver(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	steps := []struct {
		run  string
		want string // "" = starts
	}{
		{"17.7.1", ""}, // fresh data dir: recorded
		{"17.8.0", ""}, // minor upgrade
		{"19.0.0", "Unsupported upgrade path detected: from 17.8.0 to 19.0.0"},
		{"18.0.0", ""}, // next major
		{"17.7.1", "Unsupported downgrade path detected: from 18.0.0 to 17.7.1"},
		{"18.0.0", ""}, // same version
	}
	dir := t.TempDir()
	for _, s := range steps {
		err := CheckAndRecordVersion(dir, v(s.run))
		if s.want == "" && err != nil || s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)) {
			t.Fatalf("run %s: err = %v, want %q", s.run, err, s.want)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, VersionFile))
	if strings.TrimSpace(string(b)) != "18.0.0" {
		t.Fatalf("recorded %q after refusals, want 18.0.0", b)
	}
	t.Setenv("TELEPORT_UNSTABLE_SKIP_VERSION_UPGRADE_CHECK", "yes")
	if err := CheckAndRecordVersion(dir, v("16.0.0")); err != nil {
		t.Fatalf("with the skip variable: %v", err)
	}
}

func TestVersionCompatibilityAtJoin(t *testing.T) {
	v := func(s string) Semver { x, _ := ParseSemver(s); return x }
	if !ClientTooOld(v("18.0.0"), v("16.9.9")) || ClientTooOld(v("18.0.0"), v("17.0.0-dev")) || ClientTooOld(v("17.7.1"), v("17.8.0")) {
		t.Error("MinClientVersion is one major back, pre-releases of it included")
	}
	if err := AuthServerTooOld(v("17.7.1"), v("18.0.0")); err == nil || !strings.Contains(err.Error(), "Teleport instance is too new. This instance is running v18. The auth server is running v17") {
		t.Errorf("newer major: %v", err)
	}
	if err := AuthServerTooOld(v("18.0.0"), v("17.7.1")); err != nil {
		t.Errorf("older instance: %v", err)
	}
}
