package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// joinedProxy is an auth double and a proxy double that joined it; the proxy
// serves dir/tls.key and dir/tls.crt.
func joinedProxy(t *testing.T, reload string, extraWeb map[string]http.Handler) (*proc, string) {
	t.Helper()
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	dir := t.TempDir()
	writeKeyPair(t, dir, "teleport.example.com")
	cfg := strings.Replace(strings.Replace(proxyConfig(a.Addr("auth"), token, ""), "PROXYEXTRA", keyPairYAML(dir, reload), 1), "SSH", "false", 1)
	p, err := newProc(t, "", cfg, opts(v17, oss))
	must(t, err)
	p.extraWeb = extraWeb
	must(t, p.Start(context.Background()))
	t.Cleanup(p.Close)
	waitReady(t, p, http.StatusOK)
	return p, dir
}

func servedCertCN(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "teleport.example.com"})
	must(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestWebPingAnswersLikeTeleport(t *testing.T) {
	p, _ := joinedProxy(t, "0s", nil)
	ping := getJSON(t, "https://"+p.Addr("proxy:web")+"/webapi/ping")
	for _, k := range []string{"auth", "proxy"} {
		if _, ok := ping[k].(map[string]any); !ok {
			t.Errorf("ping lacks %q object: %v", k, ping)
		}
	}
	if v1 := getJSON(t, "https://"+p.Addr("proxy:web")+"/v1/webapi/ping"); v1["cluster_name"] != testCluster {
		t.Fatalf("/v1/webapi/ping = %v", v1)
	}
	if servedCertCN(t, p.Addr("proxy:web")) != "teleport.example.com" {
		t.Fatal("the web listener does not serve the https key pair")
	}
}

func TestDiagEndpoints(t *testing.T) {
	p, _ := joinedProxy(t, "0s", nil)
	for path, want := range map[string]string{"/healthz": `"status":"ok"`, "/readyz": `"pid":`, "/metrics": "process_state 0",
		"/metrics?build": `teleport_build_info{gitref="test-double",version="`} {
		resp, err := http.Get("http://" + p.Addr("diag") + path)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) || !strings.Contains(string(body), "TEST DOUBLE") {
			t.Errorf("%s = %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestKeyPairsAreReloadedOnTheConfiguredInterval(t *testing.T) {
	p, dir := joinedProxy(t, "100ms", nil)
	writeKeyPair(t, dir, "interval.example.com")
	eventually(t, "the rotated certificate", func() bool { return servedCertCN(t, p.Addr("proxy:web")) == "interval.example.com" })
}

func TestKeyPairFilesAreCheckedAtStart(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	dir := t.TempDir()
	cfg := strings.Replace(strings.Replace(proxyConfig(a.Addr("auth"), token, ""), "PROXYEXTRA", keyPairYAML(dir, "0s"), 1), "SSH", "false", 1)
	if _, err := newProc(t, "", cfg, opts(v17, oss)); err == nil || !strings.Contains(err.Error(), "https private key does not exist: "+dir+"/tls.key") {
		t.Fatalf("missing key pair: %v", err)
	}

	// A key that is not the certificate's: the proxy joins, then its first
	// certificate load fails and ends the process.
	writeKeyPair(t, dir, "one.example.com")
	other := t.TempDir()
	writeKeyPair(t, other, "two.example.com")
	must(t, os.Rename(filepath.Join(other, "tls.key"), filepath.Join(dir, "tls.key")))
	p := startProc(t, "", cfg, opts(v17, oss))
	select {
	case err := <-p.Fatal():
		if !strings.Contains(err.Error(), "TLS certificate "+dir+"/tls.crt and key "+dir+"/tls.key failed to load") {
			t.Fatalf("fatal = %v", err)
		}
	case <-timeout():
		t.Fatalf("a proxy with a mismatched key pair kept running:\n%s", p.log)
	}
	if p.Addr("proxy:web") != "" {
		t.Fatal("the web listener opened with a key that does not match its certificate")
	}
}

// slowHandler holds a request until released, to test draining.
func slowHandler(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
}

func TestGracefulShutdownDrainsRequestsInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	p, _ := joinedProxy(t, "0s", map[string]http.Handler{"/slow": slowHandler(started, release)})
	web := p.Addr("proxy:web")
	result := make(chan string, 1)
	go func() {
		resp, err := insecure.Get("https://" + web + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	done := make(chan struct{})
	go func() { p.Shutdown(context.Background()); close(done) }()
	// New connections are refused while the old request is still running.
	eventually(t, "the web listener closed", func() bool {
		c, err := net.DialTimeout("tcp", web, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-done:
		t.Fatal("Shutdown returned with a request in flight")
	default:
	}
	close(release)
	if got := <-result; got != "finished" {
		t.Fatalf("request in flight got %q", got)
	}
	<-done
}

func TestFastCloseCutsRequestsInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	p, _ := joinedProxy(t, "0s", map[string]http.Handler{"/slow": slowHandler(started, release)})
	errc := make(chan error, 1)
	go func() {
		resp, err := insecure.Get("https://" + p.Addr("proxy:web") + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = errors.New("completed")
			}
		}
		errc <- err
	}()
	<-started
	p.Close()
	if err := <-errc; err == nil || err.Error() == "completed" {
		t.Fatalf("request in flight survived a fast close: %v", err)
	}
}
