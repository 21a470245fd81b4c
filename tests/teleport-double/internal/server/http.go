package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Teleport-Test-Double", "true")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// minClientVersion follows Teleport: one major version back.
func minClientVersion(v string) string {
	var major int
	if _, err := fmt.Sscanf(v, "%d", &major); err != nil || major < 1 {
		return "0.0.0-aa"
	}
	return fmt.Sprintf("%d.0.0-aa", major-1)
}

// ping answers GET /webapi/ping in the shape of Teleport's webclient.PingResponse.
func (p *Process) ping(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed "+Marker, http.StatusMethodNotAllowed)
		return
	}
	cfg := p.Config()
	px := cfg.Proxy
	public := ""
	if len(px.PublicAddr) > 0 {
		public = px.PublicAddr[0]
	}
	first := func(v []string) string {
		if len(v) > 0 {
			return v[0]
		}
		return ""
	}
	mode := cfg.Auth.ProxyListenerMode
	tlsRouting := mode != "separate" // multiplex is the v3 default
	cluster := cfg.Auth.ClusterName
	if cluster == "" && public != "" {
		cluster, _, _ = net.SplitHostPort(public)
	}
	resp := map[string]any{
		"auth": map[string]any{
			"type":                "local",
			"second_factor":       "otp",
			"preferred_local_mfa": "otp",
			"local":               map[string]any{"name": ""},
			"private_key_policy":  "none",
			"device_trust":        map[string]any{},
			"has_motd":            false,
		},
		"proxy": map[string]any{
			"kube": map[string]any{"enabled": px.KubeListenAddr != "", "listen_addr": px.KubeListenAddr},
			"ssh": map[string]any{
				"listen_addr":            px.ListenAddr,
				"tunnel_listen_addr":     px.TunnelListenAddr,
				"web_listen_addr":        or(px.WebListenAddr, "0.0.0.0:3080"),
				"public_addr":            public,
				"ssh_public_addr":        first(px.SSHPublicAddr),
				"ssh_tunnel_public_addr": first(px.TunnelPublicAddr),
			},
			"db":                  map[string]any{"postgres_listen_addr": px.PostgresListenAddr, "mysql_listen_addr": px.MySQLListenAddr},
			"tls_routing_enabled": tlsRouting,
		},
		"server_version":     p.Version,
		"min_client_version": minClientVersion(p.Version),
		"cluster_name":       cluster,
		"automatic_upgrades": false,
		"edition":            "oss",
		"fips":               false,
		"test_double":        Marker,
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Process) health(readiness bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if readiness && !p.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "test_double": Marker})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "test_double": Marker})
	}
}

func (p *Process) metrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	metric := func(name, help, kind string, value any, labels string) {
		fmt.Fprintf(&b, "# HELP %s %s %s\n# TYPE %s %s\n%s%s %v\n", name, help, Marker, name, kind, name, labels, value)
	}
	ready := 0
	if p.ready.Load() {
		ready = 1
	}
	metric("teleport_test_double_info", "Always 1: this process is the Teleport test double.", "gauge", 1, fmt.Sprintf(`{version=%q}`, p.Version))
	// Teleport's process_state: 0 ok, 1 recovering, 2 degraded, 3 starting.
	state := 3
	if ready == 1 {
		state = 0
	}
	metric("process_state", "State of the teleport process.", "gauge", state, "")
	metric("teleport_test_double_reloads_total", "Successful SIGHUP reloads.", "counter", p.reloads.Load(), "")
	metric("teleport_test_double_reload_errors_total", "Reloads that kept the previous config or keypairs.", "counter", p.reloadErr.Load(), "")
	metric("teleport_test_double_https_keypair_loads_total", "Times the web certificates were (re)loaded.", "counter", p.certLoads.Load(), "")
	if na := p.CertNotAfter(); !na.IsZero() {
		metric("teleport_test_double_https_cert_not_after_seconds", "Expiry of the web certificate in use.", "gauge", na.Unix(), "")
	}
	metric("teleport_test_double_uptime_seconds", "Seconds since start.", "gauge", int64(time.Since(p.started).Seconds()), "")
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}
