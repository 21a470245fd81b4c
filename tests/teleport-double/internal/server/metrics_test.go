package server

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func scrape(t *testing.T, p *proc) string {
	t.Helper()
	resp, err := http.Get("http://" + p.Addr("diag") + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return string(body)
}

func scrapeHas(t *testing.T, p *proc, line string) {
	t.Helper()
	eventually(t, "/metrics line "+line, func() bool { return strings.Contains(scrape(t, p), "\n"+line+"\n") })
}

// process_state is the state /readyz answers from (lib/service/state.go):
// ok when joined, degraded while the auth server is gone, starting while a
// service has not joined.
func TestProcessStateIsTheReadinessTeleportReports(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	addr := a.Addr("auth")
	p := proxy(t, addr, token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	scrapeHas(t, p, "process_state 0")
	scrapeHas(t, a, "process_state 0")

	a.Close()
	waitReady(t, p, http.StatusServiceUnavailable)
	scrapeHas(t, p, "process_state 2")

	never := proxy(t, addr, token, "", opts(v17, oss))
	waitReady(t, never, http.StatusBadRequest)
	scrapeHas(t, never, "process_state 3")
}

// The Auth Service's backend families, with Teleport's names, types and
// label, at zero (the double has no backend); a proxy has none of them.
func TestAuthExposesTeleportsBackendMetrics(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	m := scrape(t, a)
	for _, c := range []string{"backend_read_requests_total", "backend_read_requests_failed_total",
		"backend_batch_read_requests_total", "backend_batch_read_requests_failed_total",
		"backend_write_requests_total", "backend_write_requests_failed_total",
		"teleport_backend_write_requests_failed_precondition_total",
		"backend_batch_write_requests_total", "backend_batch_write_requests_failed_total"} {
		for _, want := range []string{"# TYPE " + c + " counter\n", "\n" + c + `{component="backend"} 0` + "\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("auth /metrics lacks %q", want)
			}
		}
	}
	for _, h := range []string{"backend_read_seconds", "backend_write_seconds", "backend_batch_read_seconds", "backend_batch_write_seconds"} {
		for _, want := range []string{"# TYPE " + h + " histogram\n",
			"\n" + h + `_bucket{component="backend",le="0.001"} 0` + "\n",
			"\n" + h + `_bucket{component="backend",le="1.024"} 0` + "\n",
			"\n" + h + `_bucket{component="backend",le="32.768"} 0` + "\n",
			"\n" + h + `_bucket{component="backend",le="+Inf"} 0` + "\n",
			"\n" + h + `_sum{component="backend"} 0` + "\n",
			"\n" + h + `_count{component="backend"} 0` + "\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("auth /metrics lacks %q", want)
			}
		}
	}
	if n := strings.Count(m, h0("backend_read_seconds")); n != 16+1 {
		t.Errorf("backend_read_seconds has %d buckets, Teleport's ExponentialBuckets(0.001, 2, 16) and +Inf are 17", n)
	}
	if pm := scrape(t, p); strings.Contains(pm, "backend_") {
		t.Errorf("a proxy exposes the auth backend's metrics:\n%s", pm)
	}
}

func h0(name string) string { return name + `_bucket{component="backend",le="` }

// Every metric the Teleport alert rules read (monitoring/alerts.yml, group
// teleport) is one the double exposes, under the type the rule expects, so
// the rules meet in the sandbox the names they will meet against Teleport.
func TestTheAlertRulesReadNamesTheDoubleExposes(t *testing.T) {
	raw, err := os.ReadFile("../../../../monitoring/alerts.yml")
	must(t, err)
	var doc struct {
		Groups []struct {
			Name  string
			Rules []struct{ Expr string }
		}
	}
	must(t, yaml.Unmarshal(raw, &doc))
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	exposed := scrape(t, a) + scrape(t, p)
	selector := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\{`)
	read := 0
	for _, g := range doc.Groups {
		if g.Name != "teleport" {
			continue
		}
		for _, r := range g.Rules {
			for _, m := range selector.FindAllStringSubmatch(r.Expr, -1) {
				name := m[1]
				if name == "up" { // Prometheus's own, per target
					continue
				}
				typ := "counter|gauge"
				if base, ok := strings.CutSuffix(name, "_bucket"); ok {
					name, typ = base, "histogram"
				}
				read++
				if !regexp.MustCompile(`(?m)^# TYPE ` + name + ` (` + typ + `)$`).MatchString(exposed) {
					t.Errorf("the rules read %s (%s); the double does not expose it", name, typ)
				}
			}
		}
	}
	if read < 5 {
		t.Fatalf("found %d metric selectors in group teleport of monitoring/alerts.yml", read)
	}
}
