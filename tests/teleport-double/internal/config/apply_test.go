package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func apply(t *testing.T, y string) (*Runtime, error) {
	t.Helper()
	f, err := Parse([]byte(y))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Apply(f)
}

func mustApply(t *testing.T, y string) *Runtime {
	t.Helper()
	rt, err := apply(t, y)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestStartStageRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ yaml, want string }{
		"version v2":            {"version: v2\n", "version: \"v2\": the TEST DOUBLE models configuration version v3 only"},
		"unknown version":       {"version: v9\n", "not a configuration version Teleport knows"},
		"auth_servers v3":       {base + "teleport:\n  auth_servers: [a:3025]\n", "teleport.auth_servers: config v3 has replaced auth_servers"},
		"both servers":          {base + "teleport:\n  auth_server: a:3025\n  proxy_server: b:443\n", "only one of auth_server or proxy_server should be set"},
		"proxy_server on proxy": {base + "teleport:\n  proxy_server: b:443\n", "proxy_server can not be specified when proxy service is enabled"},
		"bad port":              {base + "teleport:\n  auth_server: a:port\n", "teleport.auth_server"},
		"bad scheme":            {base + "proxy_service:\n  public_addr: ftp://x\n", "unsupported scheme"},
		"log severity":          {base + "teleport:\n  log:\n    severity: loud\n", `unsupported logger severity: "loud"`},
		"log format":            {base + "teleport:\n  log:\n    format:\n      output: xml\n", "unsupported log output format"},
		"join method":           {base + "teleport:\n  join_params:\n    method: password\n    token_name: x\n", `unknown join method "password"`},
		"token and join params": {base + "teleport:\n  auth_token: a\n  join_params:\n    token_name: b\n", "only one of auth_token or join_params should be set"},
		"static token spec":     {base + "auth_service:\n  tokens: [\"nocolon\"]\n", `auth_service.tokens[0]: invalid static token spec: "nocolon"`},
		"static token role":     {base + "auth_service:\n  tokens: [\"prox:abc\"]\n", `invalid role "prox"`},
		"static token file":     {base + "auth_service:\n  tokens: [\"proxy:/nonexistent/token\"]\n", "/nonexistent/token"},
		"ca_pin empty file":     {base + "teleport:\n  ca_pin: " + empty + "\n", "empty ca_pin file"},
		"peer public alone":     {base + "proxy_service:\n  peer_public_addr: a:3021\n", "proxy_service.peer_public_addr: peer_listen_addr must be set when peer_public_addr is set"},
		"missing key file":      {base + "proxy_service:\n  https_keypairs:\n    - key_file: /nonexistent/k\n      cert_file: /nonexistent/c\n", "https private key does not exist: /nonexistent/k"},
		"keypair without cert":  {base + "proxy_service:\n  https_keypairs:\n    - key_file: " + empty + "\n", "https cert does not exist"},
		"session recording":     {base + "auth_service:\n  session_recording: always\n", "auth_service.session_recording"},
		"proxy protocol":        {base + "auth_service:\n  proxy_protocol: maybe\n", "invalid 'proxy_protocol' value"},
		"sessions uri list":     {base + "teleport:\n  storage:\n    type: dynamodb\n    table_name: t\n    audit_sessions_uri: [\"s3://a\", \"s3://b\"]\n", "takes a single URI"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := apply(t, c.yaml)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestEnabledFlagThatIsNotABooleanTurnsTheServiceOff(t *testing.T) {
	rt := mustApply(t, base+"ssh_service:\n  enabled: maybe\nauth_service:\n  enabled: yes\n")
	if rt.SSH.Enabled || !rt.Auth.Enabled || !rt.Proxy.Enabled {
		t.Fatalf("ssh=%v auth=%v proxy=%v", rt.SSH.Enabled, rt.Auth.Enabled, rt.Proxy.Enabled)
	}
}

func TestTunnelStrategyDefaults(t *testing.T) {
	if rt := mustApply(t, base); rt.Auth.TunnelStrategy != "agent_mesh" {
		t.Errorf("default = %q", rt.Auth.TunnelStrategy)
	}
	rt := mustApply(t, base+"auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: 0\n")
	if rt.Auth.TunnelStrategy != "proxy_peering" || rt.Auth.AgentConnectionCount != 1 {
		t.Errorf("count 0 = %q/%d, want proxy_peering/1", rt.Auth.TunnelStrategy, rt.Auth.AgentConnectionCount)
	}
}

func TestAddressesTakeTeleportsDefaultPorts(t *testing.T) {
	rt := mustApply(t, base+"teleport:\n  auth_server: auth.example.com\nauth_service:\n  enabled: no\nproxy_service:\n  peer_listen_addr: 0.0.0.0\n  peer_public_addr: proxy-a\n  public_addr: [teleport.example.com]\n  web_listen_addr: 0.0.0.0:443\n")
	for got, want := range map[string]string{rt.AuthServer: "auth.example.com:3025", rt.Proxy.PeerAddr: "0.0.0.0:3021",
		rt.Proxy.PeerPublicAddr: "proxy-a:3021", rt.Proxy.PublicAddrs[0]: "teleport.example.com:443"} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestLicensePathIsResolvedAgainstDataDir(t *testing.T) {
	for lf, want := range map[string]string{"": "/d/license.pem", "lic/x.pem": "/d/lic/x.pem", "/etc/t/l.pem": "/etc/t/l.pem"} {
		y := base + "teleport:\n  data_dir: /d\n"
		if lf != "" {
			y += "auth_service:\n  license_file: " + lf + "\n"
		}
		if got := mustApply(t, y).Auth.LicenseFile; got != want {
			t.Errorf("license_file %q -> %q, want %q", lf, got, want)
		}
	}
}

func TestStaticTokensReadFilesAndRoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("first\nsecond\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := mustApply(t, base+"auth_service:\n  tokens: [\"Proxy,NODE:inline\", \"proxy:"+path+"\"]\n")
	got := rt.Auth.Tokens
	if len(got) != 3 || got[0].Value != "inline" || !slices.Equal(got[0].Roles, []string{"Proxy", "Node"}) ||
		got[1].Value != "first" || got[2].Value != "second" || !slices.Equal(got[2].Roles, []string{"Proxy"}) {
		t.Fatalf("tokens = %+v", got)
	}
	// A relative value is the token itself (TryReadValueAsFile reads only absolute paths).
	if rt := mustApply(t, base+"auth_service:\n  tokens: [\"proxy:tokens/file\"]\n"); rt.Auth.Tokens[0].Value != "tokens/file" {
		t.Fatalf("relative token = %q", rt.Auth.Tokens[0].Value)
	}
}

func TestCAPinsMayBeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins")
	if err := os.WriteFile(path, []byte("sha256:aa\nsha256:bb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := mustApply(t, base+"teleport:\n  ca_pin: [\"sha256:cc\", \""+path+"\", \"\"]\n")
	if !slices.Equal(rt.CAPins, []string{"sha256:cc", "sha256:aa", "sha256:bb"}) {
		t.Fatalf("pins = %v", rt.CAPins)
	}
}

func TestUnknownStorageKeysOnlyWarn(t *testing.T) {
	rt := mustApply(t, base+"teleport:\n  storage:\n    type: postgresql\n    conn_string: x\n    ttl_job_cron: '* * * * *'\n")
	if len(rt.Warnings) != 1 || !strings.Contains(rt.Warnings[0], "teleport.storage.ttl_job_cron is not a parameter of the postgresql backend") {
		t.Fatalf("warnings = %v", rt.Warnings)
	}
}

func writeCert(t *testing.T, path string, selfSigned bool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "private CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "teleport.example.com"}, DNSNames: []string{"teleport.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	parent := issuer
	if selfSigned {
		parent = leaf
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPairChainMustBeTrustedUnlessSelfSigned(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "tls.key")
	if err := os.WriteFile(key, []byte("not checked at this stage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "tls.crt")
	y := base + "proxy_service:\n  https_keypairs:\n    - key_file: " + key + "\n      cert_file: " + cert + "\n"
	writeCert(t, cert, true)
	rt := mustApply(t, y)
	if len(rt.Warnings) != 1 || !strings.Contains(rt.Warnings[0], "self-signed") {
		t.Fatalf("self-signed: warnings = %v", rt.Warnings)
	}
	writeCert(t, cert, false)
	if _, err := apply(t, y); err == nil || !strings.Contains(err.Error(), "unable to verify HTTPS certificate chain in "+cert) {
		t.Fatalf("privately issued cert: err = %v", err)
	}
}
