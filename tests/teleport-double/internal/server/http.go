package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"teleportha.ops/teleport-double/internal/cluster"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Teleport-Test-Double", "true")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ping answers GET /webapi/ping in the shape of Teleport's
// webclient.PingResponse (lib/web.(*Handler).ping): the cluster name and the
// TLS routing mode come from the auth server the proxy joined, the version
// and edition (modules.BuildType) from this binary.
func (p *Process) ping(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed "+Marker, http.StatusMethodNotAllowed)
		return
	}
	info := p.cluster.Load()
	px := p.rt.Proxy
	first := func(v []string) string {
		if len(v) > 0 {
			return v[0]
		}
		return ""
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
			"kube": map[string]any{"enabled": px.KubeAddr != "", "listen_addr": px.KubeAddr},
			"ssh": map[string]any{
				"listen_addr":            px.SSHAddr,
				"tunnel_listen_addr":     px.TunnelAddr,
				"web_listen_addr":        px.WebAddr,
				"public_addr":            first(px.PublicAddrs),
				"ssh_public_addr":        first(p.rt.File.Proxy.SSHPublicAddr),
				"ssh_tunnel_public_addr": first(p.rt.File.Proxy.TunnelPublicAddr),
			},
			"db":                  map[string]any{"postgres_listen_addr": px.PostgresAddr, "mysql_listen_addr": px.MySQLAddr},
			"tls_routing_enabled": info.ProxyListenerMode == "multiplex",
		},
		"server_version":     p.opts.Version,
		"min_client_version": cluster.MinClientVersion(p.version).String(),
		"cluster_name":       info.Name,
		"automatic_upgrades": false,
		"edition":            p.opts.Edition,
		"fips":               false,
		"test_double":        Marker,
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Process) metrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	metric := func(name, help, kind string, value any, labels string) {
		fmt.Fprintf(&b, "# HELP %s %s %s\n# TYPE %s %s\n%s%s %v\n", name, help, Marker, name, kind, name, labels, value)
	}
	metric("teleport_test_double_info", "Always 1: this process is the Teleport test double.", "gauge", 1,
		fmt.Sprintf(`{version=%q,edition=%q}`, p.opts.Version, p.opts.Edition))
	// Teleport's own build gauge (lib/observability/metrics BuildCollector: teleport_build_info{gitref,version,goversion}).
	metric("teleport_build_info", "Provides build information of Teleport including gitref (git describe --long --tags), Go version, and Teleport version.", "gauge", 1,
		fmt.Sprintf(`{gitref="test-double",version=%q,goversion=%q}`, p.opts.Version, runtime.Version()))
	metric("process_state", "State of the teleport process: 0 - ok, 1 - recovering, 2 - degraded, 3 - starting", "gauge", int(p.state.overall()), "")
	metric("teleport_test_double_reloads_total", "Graceful restarts (SIGHUP forks) that led to this process.", "counter", p.generation, "")
	metric("teleport_test_double_reload_errors_total", "Graceful restarts whose child did not come up.", "counter", p.forkErrs.Load(), "")
	metric("teleport_test_double_https_keypair_loads_total", "Times the web certificates were (re)loaded.", "counter", p.certLoads.Load(), "")
	if na := p.CertNotAfter(); !na.IsZero() {
		metric("teleport_test_double_https_cert_not_after_seconds", "Expiry of the web certificate in use.", "gauge", na.Unix(), "")
	}
	metric("teleport_test_double_uptime_seconds", "Seconds since start.", "gauge", int64(time.Since(p.started).Seconds()), "")
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}
