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

// rejects asserts that content fails and that the error names want.
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
		"crdb key on pg":   {base + "teleport:\n  storage:\n    type: postgresql\n    conn_string: x\n    ttl_job_cron: '* * * * *'\n", "teleport.storage.ttl_job_cron: unknown key for storage type postgresql"},
		"storage per type": {base + "teleport:\n  storage:\n    type: dynamodb\n    table_name: t\n    conn_string: x\n", "teleport.storage.conn_string: unknown key for storage type dynamodb"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { rejects(t, c.yaml, c.path) })
	}
}

func TestInvalidValuesAreRejected(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"version v2":        {"version: v2\n", "version"},
		"missing version":   {"teleport:\n  nodename: a\n", "version"},
		"listener mode":     {base + "auth_service:\n  proxy_listener_mode: both\n", "auth_service.proxy_listener_mode"},
		"tunnel type":       {base + "auth_service:\n  tunnel_strategy:\n    type: mesh\n", "auth_service.tunnel_strategy.type"},
		"connection count":  {base + "auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: 0\n", "agent_connection_count: must be at least 1"},
		"count not int":     {base + "auth_service:\n  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: two\n", "auth_service.tunnel_strategy.agent_connection_count (line 5): invalid value"},
		"reload interval":   {base + "proxy_service:\n  https_keypairs_reload_interval: often\n", "proxy_service.https_keypairs_reload_interval"},
		"keypairs not list": {base + "proxy_service:\n  https_keypairs:\n    key_file: a\n", "proxy_service.https_keypairs (line 4): expected a list"},
		"peer addr":         {base + "proxy_service:\n  peer_public_addr: no-port\n", "proxy_service.peer_public_addr"},
		"enabled":           {base + "ssh_service:\n  enabled: maybe\n", "ssh_service.enabled"},
		"auth_servers v3":   {base + "teleport:\n  auth_servers: [a:3025]\n", "teleport.auth_servers"},
		"both servers":      {base + "teleport:\n  auth_server: a:3025\n  proxy_server: b:443\n", "teleport.proxy_server"},
		"storage type":      {base + "teleport:\n  storage:\n    type: mysql\n", "teleport.storage.type"},
		"billing mode":      {base + "teleport:\n  storage:\n    type: dynamodb\n    table_name: t\n    billing_mode: on_demand\n", "teleport.storage.billing_mode"},
		"events uri":        {base + "teleport:\n  storage:\n    type: dynamodb\n    table_name: t\n    audit_events_uri: teleport-events\n", "teleport.storage.audit_events_uri"},
		"join method":       {base + "teleport:\n  join_params:\n    method: password\n    token_name: x\n", "teleport.join_params.method"},
		"duplicate key":     {base + "teleport:\n  nodename: a\n  nodename: b\n", "already defined"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { rejects(t, c.yaml, c.want) })
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
