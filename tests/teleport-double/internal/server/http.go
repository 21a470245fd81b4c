package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
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
	// Teleport's readiness gauge (lib/service/state.go stateGauge, name teleport.MetricState in metrics.go):
	// no labels, the same overall state /readyz answers from, degraded while a joined service cannot
	// reach its auth server (watchAuth), as Teleport's failed heartbeats make it.
	metric("process_state", "State of the teleport process: 0 - ok, 1 - recovering, 2 - degraded, 3 - starting", "gauge", int(p.state.overall()), "")
	if p.rt.Auth.Enabled {
		backendMetrics(&b)
	}
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

// backendMetrics writes the Auth Service's backend families with Teleport's
// names, types and label (lib/backend/backendmetrics/metrics.go, names in
// metrics.go, label teleport.ComponentLabel "component" with
// teleport.ComponentBackend "backend", constants.go), at zero: the double
// keeps no cluster state backend, so no request ever reaches one, and
// Teleport's lib/backend/report.go NewReporter initialises each of them to
// zero at start so that they exist before the first request. The alert rules
// (monitoring/alerts.yml, group teleport) read these names.
func backendMetrics(b *strings.Builder) {
	const component = `{component="backend"}`
	counters := []struct{ name, help string }{
		{"backend_read_requests_total", "Number of read requests to the backend"},
		{"backend_read_requests_failed_total", "Number of failed read requests to the backend"},
		{"backend_batch_read_requests_total", "Number of read requests to the backend"},
		{"backend_batch_read_requests_failed_total", "Number of failed read requests to the backend"},
		{"backend_write_requests_total", "Number of write requests to the backend"},
		{"backend_write_requests_failed_total", "Number of failed write requests to the backend"},
		// Namespace teleport (teleport.MetricNamespace), unlike its siblings.
		{"teleport_backend_write_requests_failed_precondition_total", "Number of write requests that failed due to a precondition (existence, revision, value, etc)"},
		{"backend_batch_write_requests_total", "Number of batch write requests to the backend"},
		{"backend_batch_write_requests_failed_total", "Number of failed write requests to the backend"},
	}
	for _, c := range counters {
		fmt.Fprintf(b, "# HELP %s %s %s\n# TYPE %s counter\n%s%s 0\n", c.name, c.help, Marker, c.name, c.name, component)
	}
	// prometheus.ExponentialBuckets(0.001, 2, 16): 1 ms to 32.768 s.
	histograms := []struct{ name, help string }{
		{"backend_read_seconds", "Latency for read operations"},
		{"backend_write_seconds", "Latency for backend write operations"},
		{"backend_batch_read_seconds", "Latency for batch read operations"},
		{"backend_batch_write_seconds", "Latency for backend batch write operations"},
	}
	for _, h := range histograms {
		fmt.Fprintf(b, "# HELP %s %s %s\n# TYPE %s histogram\n", h.name, h.help, Marker, h.name)
		for i, le := 0, 0.001; i < 16; i, le = i+1, le*2 {
			fmt.Fprintf(b, "%s_bucket{component=\"backend\",le=\"%s\"} 0\n", h.name, strconv.FormatFloat(le, 'g', -1, 64))
		}
		fmt.Fprintf(b, "%s_bucket{component=\"backend\",le=\"+Inf\"} 0\n%s_sum%s 0\n%s_count%s 0\n", h.name, h.name, component, h.name, component)
	}
}
