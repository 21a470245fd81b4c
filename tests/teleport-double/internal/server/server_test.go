package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeKeyPair(t *testing.T, dir, cn string) {
	t.Helper()
	c, err := selfSigned([]string{cn})
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	// Write to temp names and rename, as the node-agent does, so a reload
	// never sees half a pair.
	must(t, os.WriteFile(filepath.Join(dir, "tls.key.tmp"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tls.crt.tmp"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644))
	must(t, os.Rename(filepath.Join(dir, "tls.key.tmp"), filepath.Join(dir, "tls.key")))
	must(t, os.Rename(filepath.Join(dir, "tls.crt.tmp"), filepath.Join(dir, "tls.crt")))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

const proxyConfig = `version: v3
teleport:
  nodename: proxy-a
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
auth_service:
  enabled: false
ssh_service:
  enabled: false
proxy_service:
  enabled: true
  web_listen_addr: 127.0.0.1:0
  peer_listen_addr: 127.0.0.1:0
  peer_public_addr: proxy-a:3021
  public_addr: teleport.example.com:443
  https_keypairs:
    - key_file: DIR/tls.key
      cert_file: DIR/tls.crt
  https_keypairs_reload_interval: RELOAD
`

func startProxy(t *testing.T, reload string) (*Process, string) {
	t.Helper()
	dir := t.TempDir()
	writeKeyPair(t, dir, "teleport.example.com")
	cfg := filepath.Join(dir, "teleport.yaml")
	must(t, os.WriteFile(cfg, []byte(strings.ReplaceAll(strings.ReplaceAll(proxyConfig, "DIR", dir), "RELOAD", reload)), 0o600))
	p, err := New("17.7.1", cfg, io.Discard)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, p.Start(ctx))
	t.Cleanup(func() { cancel(); p.Shutdown(context.Background()) })
	return p, dir
}

var insecure = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func servedCertCN(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "teleport.example.com"})
	must(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestWebPingAnswersLikeTeleport(t *testing.T) {
	p, _ := startProxy(t, "0s")
	resp, err := insecure.Get("https://" + p.Addrs["web"] + "/webapi/ping")
	must(t, err)
	defer resp.Body.Close()
	var ping map[string]any
	must(t, json.NewDecoder(resp.Body).Decode(&ping))
	if resp.StatusCode != 200 || ping["server_version"] != "17.7.1" || ping["min_client_version"] != "16.0.0-aa" {
		t.Fatalf("ping = %d %v", resp.StatusCode, ping)
	}
	for _, k := range []string{"auth", "proxy"} {
		if _, ok := ping[k].(map[string]any); !ok {
			t.Errorf("ping lacks %q object: %v", k, ping)
		}
	}
	if resp2, err := insecure.Get("https://" + p.Addrs["web"] + "/v1/webapi/ping"); err != nil || resp2.StatusCode != 200 {
		t.Fatalf("/v1/webapi/ping: %v %v", err, resp2)
	}
}

func TestDiagEndpoints(t *testing.T) {
	p, _ := startProxy(t, "0s")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + p.Addrs["diag"] + path)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "TEST DOUBLE") {
			t.Errorf("%s = %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestPeerListenerRequiresAClientCertificate(t *testing.T) {
	p, _ := startProxy(t, "0s")
	// Without a client certificate the server aborts the handshake; with
	// TLS 1.3 the alert arrives on the first read.
	conn, err := tls.Dial("tcp", p.Addrs["peer"], &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("handshake without client cert: err = %v, want a certificate alert", err)
	}
	client, err := selfSigned([]string{"proxy-b"})
	must(t, err)
	conn, err = tls.Dial("tcp", p.Addrs["peer"], &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}})
	must(t, err)
	defer conn.Close()
	must(t, conn.Handshake())
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "proxy-a" {
		t.Errorf("peer host cert CN = %q", cn)
	}
}

func TestSighupReloadsKeyPairsAndKeepsConfigWhenTheNewOneIsBad(t *testing.T) {
	p, dir := startProxy(t, "0s")
	writeKeyPair(t, dir, "rotated.example.com")
	if cn := servedCertCN(t, p.Addrs["web"]); cn != "teleport.example.com" {
		t.Fatalf("before reload CN = %q", cn)
	}
	must(t, p.Reload())
	if cn := servedCertCN(t, p.Addrs["web"]); cn != "rotated.example.com" {
		t.Fatalf("after reload CN = %q", cn)
	}
	cfgPath := filepath.Join(dir, "teleport.yaml")
	good, _ := os.ReadFile(cfgPath)
	must(t, os.WriteFile(cfgPath, append(good, []byte("unknown_section: {}\n")...), 0o600))
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "unknown_section") {
		t.Fatalf("bad config reload err = %v", err)
	}
	if p.Config().Proxy.PeerPublicAddr != "proxy-a:3021" {
		t.Fatal("config in force changed after a bad reload")
	}
}

func TestKeyPairsAreReloadedOnTheConfiguredInterval(t *testing.T) {
	p, dir := startProxy(t, "100ms")
	writeKeyPair(t, dir, "interval.example.com")
	deadline := time.Now().Add(10 * time.Second)
	for servedCertCN(t, p.Addrs["web"]) != "interval.example.com" {
		if time.Now().After(deadline) {
			t.Fatal("certificate not reloaded within 10s with https_keypairs_reload_interval 100ms")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}
