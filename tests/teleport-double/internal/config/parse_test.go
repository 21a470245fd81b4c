package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigsOurDeploymentRendersAreAccepted(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := Load(file); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}
}

func TestProxyConfigValuesAreRead(t *testing.T) {
	f, err := Load("testdata/proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := f.Proxy
	if got := strings.Join(p.PublicAddr, ","); got != "teleport.example.com:443,teleport-internal.example.com:443" {
		t.Errorf("public_addr list = %q", got)
	}
	if got := strings.Join(p.TunnelPublicAddr, ","); got != "teleport.example.com:443" {
		t.Errorf("tunnel_public_addr single string = %q", got)
	}
	if p.HTTPSKeyPairsReloadInterval.String() != "1h0m0s" {
		t.Errorf("reload interval = %v", p.HTTPSKeyPairsReloadInterval)
	}
	if !p.On(true) || f.Auth.On(true) || f.SSH.On(true) {
		t.Errorf("enabled flags: proxy=%v auth=%v ssh=%v", p.On(true), f.Auth.On(true), f.SSH.On(true))
	}
}

// rejects asserts that content fails to parse and that the error names want.
func rejects(t *testing.T, content, want string) {
	t.Helper()
	_, err := Parse([]byte(content))
	if err == nil {
		t.Fatalf("accepted, want error naming %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
}

const base = "version: v3\n"

func TestUnknownKeysAreRejectedWithTheirPath(t *testing.T) {
	cases := map[string]struct{ yaml, path string }{
		"top level":        {base + "proxy_servce:\n  enabled: true\n", "proxy_servce (line 2): unknown key"},
		"typo in teleport": {base + "teleport:\n  data_directory: /x\n", "teleport.data_directory"},
		"nested log":       {base + "teleport:\n  log:\n    format:\n      outputs: text\n", "teleport.log.format.outputs"},
		"keypair entry":    {base + "proxy_service:\n  https_keypairs:\n    - key_file: a\n      cert: b\n", "proxy_service.https_keypairs[0].cert"},
		"tunnel strategy":  {base + "auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    connection_count: 2\n", "auth_service.tunnel_strategy.connection_count"},
		"proxy peer key":   {base + "proxy_service:\n  peer_public_address: a:3021\n", "proxy_service.peer_public_address"},
		"misplaced key":    {base + "teleport:\n  cluster_name: x\n", "teleport.cluster_name"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { rejects(t, c.yaml, c.path) })
	}
}

// Values that Teleport's own UnmarshalYAML methods refuse, so that
// `teleport configure --test` already fails.
func TestParseStageRefusals(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"listener mode":     {base + "auth_service:\n  proxy_listener_mode: both\n", "auth_service.proxy_listener_mode: proxy listener mode must be one of"},
		"routing strategy":  {base + "auth_service:\n  routing_strategy: random\n", "auth_service.routing_strategy"},
		"tunnel type":       {base + "auth_service:\n  tunnel_strategy:\n    type: mesh\n", `unknown tunnel strategy: "mesh"`},
		"tunnel type unset": {base + "auth_service:\n  tunnel_strategy:\n    agent_connection_count: 2\n", `unknown tunnel strategy: ""`},
		"count on mesh":     {base + "auth_service:\n  tunnel_strategy:\n    type: agent_mesh\n    agent_connection_count: 2\n", "agent_connection_count: unknown field for tunnel strategy agent_mesh"},
		"count not int":     {base + "auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: two\n", "auth_service.tunnel_strategy.agent_connection_count (line 5): invalid value"},
		"reload interval":   {base + "proxy_service:\n  https_keypairs_reload_interval: often\n", "proxy_service.https_keypairs_reload_interval"},
		"keypairs not list": {base + "proxy_service:\n  https_keypairs:\n    key_file: a\n", "proxy_service.https_keypairs (line 4): expected a list"},
		"duplicate key":     {base + "teleport:\n  nodename: a\n  nodename: b\n", "already defined"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { rejects(t, c.yaml, c.want) })
	}
}

// configure --test must not be stricter than Teleport's: these are refused
// (or ignored) by `teleport start` only.
func TestParseStageAcceptsWhatOnlyStartChecks(t *testing.T) {
	for name, y := range map[string]string{
		"version v2":             "version: v2\n",
		"no version":             "teleport:\n  nodename: a\n",
		"auth_servers in v3":     base + "teleport:\n  auth_servers: [a:3025]\n",
		"both servers":           base + "teleport:\n  auth_server: a:3025\n  proxy_server: b:443\n",
		"enabled not a boolean":  base + "ssh_service:\n  enabled: maybe\n",
		"connection count 0":     base + "auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: 0\n",
		"peer addr without port": base + "proxy_service:\n  peer_public_addr: no-port\n",
		"log severity":           base + "teleport:\n  log:\n    severity: loud\n",
		"join method":            base + "teleport:\n  join_params:\n    method: password\n    token_name: x\n",
		"storage type":           base + "teleport:\n  storage:\n    type: mysql\n",
		"unknown storage key":    base + "teleport:\n  storage:\n    type: dynamodb\n    table_name: t\n    conn_string: x\n",
		"missing key pair files": base + "proxy_service:\n  https_keypairs:\n    - key_file: /nonexistent/k\n      cert_file: /nonexistent/c\n",
		"bad static token":       base + "auth_service:\n  tokens: [\"nocolon\"]\n",
		"session recording":      base + "auth_service:\n  session_recording: always\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(y)); err != nil {
				t.Fatalf("configure --test would refuse it, Teleport's accepts it: %v", err)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teleport.yaml")
	if err := os.WriteFile(path, []byte(base+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("error %v should name the file and the key", err)
	}
}
