package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"teleportha.ops/teleport-double/internal/cluster"
)

func TestProxyJoinsWithAValidTokenAndLearnsTheCluster(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	waitReady(t, a, http.StatusOK)
	p := proxy(t, a.Addr("auth"), token, "", opts("17.8.0", oss))
	waitReady(t, p, http.StatusOK)
	ping := getJSON(t, "https://"+p.Addr("proxy:web")+"/webapi/ping")
	if ping["cluster_name"] != testCluster || ping["server_version"] != "17.8.0" || ping["edition"] != "community" || ping["min_client_version"] != "16.0.0-aa" {
		t.Fatalf("ping = %v", ping)
	}
	if px := ping["proxy"].(map[string]any); px["tls_routing_enabled"] != true {
		t.Errorf("the auth's default multiplex mode should enable TLS routing: %v", px)
	}
	logSays(t, p, "Joining cluster without validating the identity of the Auth Server")
	logSays(t, a, `with role Proxy.`)
}

func TestProxyIsNotReadyBeforeItJoins(t *testing.T) {
	p := proxy(t, freePort(t), token, "", opts(v17, oss))
	stillNotReady(t, p, "Failed to establish connection to cluster. identity=Proxy")
}

func TestWrongTokenIsRefusedAndRetried(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), "wrong-token", "", opts(v17, oss))
	stillNotReady(t, p, `can not join the cluster with role "Proxy", token expired or not found`)
	logSays(t, a, "token expired or not found")
}

func TestTokenMustAllowEveryRoleTheProcessRuns(t *testing.T) {
	a := auth(t, `"node:only-node", "proxy:only-proxy", "proxy,node:both"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), "only-node", "", opts(v17, oss))
	stillNotReady(t, p, `the token does not allow "Proxy" role`)

	// With ssh_service on, a proxy-only token lets the proxy in but not the node.
	cfg := strings.Replace(proxyConfig(a.Addr("auth"), "only-proxy", ""), "PROXYEXTRA", "", 1)
	pn := startProc(t, "", strings.Replace(cfg, "SSH", "true\n  listen_addr: 127.0.0.1:0", 1), opts(v17, oss))
	eventually(t, "the proxy listener", func() bool { return pn.Addr("proxy:web") != "" })
	eventually(t, "two node join failures", func() bool {
		return strings.Count(pn.log.String(), `the token does not allow "Node" role`) >= 2
	})
	if r := readyz(t, pn); r.code != http.StatusBadRequest {
		t.Fatalf("/readyz with the node not joined = %d %s", r.code, r.Status)
	}

	both := startProc(t, "", strings.Replace(strings.Replace(proxyConfig(a.Addr("auth"), "both", ""), "PROXYEXTRA", "", 1),
		"SSH", "true\n  listen_addr: 127.0.0.1:0", 1), opts(v17, oss))
	waitReady(t, both, http.StatusOK)
}

func TestTokenFilesOnBothSides(t *testing.T) {
	dir := t.TempDir()
	authTokens := filepath.Join(dir, "auth-tokens")
	must(t, os.WriteFile(authTokens, []byte("old-token\nnew-token\n"), 0o600))
	proxyToken := filepath.Join(dir, "proxy-token")
	must(t, os.WriteFile(proxyToken, []byte("new-token\n"), 0o600))
	a := auth(t, `"proxy:`+authTokens+`"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), proxyToken, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
}

func TestTokenFileIsReadAtJoinTime(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	path := filepath.Join(t.TempDir(), "token")
	p := proxy(t, a.Addr("auth"), path, "", opts(v17, oss))
	stillNotReady(t, p, "no such file or directory")
	must(t, os.WriteFile(path, []byte(token), 0o600))
	waitReady(t, p, http.StatusOK)
}

func TestCAPin(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	withPin := func(pin string) *proc {
		cfg := strings.Replace(strings.Replace(proxyConfig(a.Addr("auth"), token, "  ca_pin: "+pin), "PROXYEXTRA", "", 1), "SSH", "false", 1)
		return startProc(t, "", cfg, opts(v17, oss))
	}
	wrong := withPin(pinOf(t, "other.example.com"))
	stillNotReady(t, wrong, "cluster pin does not match any provided certificate authority pin")

	right := withPin(pinOf(t, testCluster))
	waitReady(t, right, http.StatusOK)
	logSays(t, right, "Joining remote cluster with CA pin.")
}

// Two auth doubles of one cluster (behind one NLB in the deployment) present
// the same CA, so a proxy that joined through one trusts the other.
func TestAuthServersOfOneClusterShareTheCA(t *testing.T) {
	a1 := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	a2 := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	var pins []string
	for _, a := range []*proc{a1, a2} {
		conn, err := tls.Dial("tcp", a.Addr("auth"), &tls.Config{InsecureSkipVerify: true})
		must(t, err)
		chain := conn.ConnectionState().PeerCertificates
		conn.Close()
		pins = append(pins, cluster.Pin(chain[len(chain)-1]))
	}
	if pins[0] != pins[1] || pins[0] != pinOf(t, testCluster) {
		t.Fatalf("CA pins %v, want both %s", pins, pinOf(t, testCluster))
	}
	p := proxy(t, a1.Addr("auth"), token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	p.Close()
	// The same data dir, now pointed at the second auth: the stored identity
	// and CA are used, no token and no trust on first use.
	cfg := strings.Replace(strings.Replace(proxyConfig(a2.Addr("auth"), "not-needed-any-more", ""), "PROXYEXTRA", "", 1), "SSH", "false", 1)
	again := startProc(t, p.dir, cfg, opts(v17, oss))
	waitReady(t, again, http.StatusOK)
	if strings.Contains(again.log.String(), "Successfully obtained credentials to connect to the cluster. identity=Proxy") {
		t.Fatalf("a joined proxy joined again instead of using its identity:\n%s", again.log)
	}
}

func TestJoinedProxyRefusesAnAuthOfAnotherCluster(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	p := proxy(t, a.Addr("auth"), token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	p.Close()
	other := startProc(t, "", strings.Replace(strings.Replace(authConfig(`"proxy:`+token+`"`, ""), testCluster, "other.example.com", 1), "AUTHEXTRA", "", 1), opts(v17, oss))
	cfg := strings.Replace(strings.Replace(proxyConfig(other.Addr("auth"), token, ""), "PROXYEXTRA", "", 1), "SSH", "false", 1)
	again := startProc(t, p.dir, cfg, opts(v17, oss))
	stillNotReady(t, again, "certificate signed by unknown authority")
	logSays(t, again, "Was this node already registered to a different cluster?")
}

func TestProxyStartedBeforeItsAuthJoinsOnceTheAuthIsUp(t *testing.T) {
	addr := freePort(t)
	p := proxy(t, addr, token, "", opts(v17, oss))
	stillNotReady(t, p, "connection refused")
	a := startProc(t, "", authAt(addr, `"proxy:`+token+`"`), opts(v17, oss))
	waitReady(t, a, http.StatusOK)
	waitReady(t, p, http.StatusOK)
}

func TestJoinMethodsOtherThanTokenAndIAMAreNotModelled(t *testing.T) {
	pr, err := newProc(t, "", strings.Replace(strings.Replace(strings.Replace(proxyConfig("auth:3025", "ec2-token", ""), "method: token", "method: ec2", 1), "PROXYEXTRA", "", 1), "SSH", "false", 1), opts(v17, oss))
	must(t, err)
	err = pr.Start(context.Background())
	t.Cleanup(pr.Close)
	if err == nil || !strings.Contains(err.Error(), "teleport.join_params.method") || !strings.Contains(err.Error(), "not modelled by the TEST DOUBLE") {
		t.Fatalf("ec2 join: err = %v", err)
	}
}

// The proxy opens peer_listen_addr only when its auth says proxy_peering,
// whatever its own file says, and the peer port talks only to holders of a
// host certificate of the cluster.
func TestPeerListenerFollowsTheClustersTunnelStrategy(t *testing.T) {
	mesh := auth(t, `"proxy:`+token+`"`, "", opts(v17, ent))
	p := proxy(t, mesh.Addr("auth"), token, "", opts(v17, ent))
	waitReady(t, p, http.StatusOK)
	if p.Addr("proxy:peer") != "" {
		t.Fatal("peer listener opened in an agent_mesh cluster")
	}

	peering := auth(t, `"proxy:`+token+`"`, "  tunnel_strategy:\n    type: proxy_peering\n    agent_connection_count: 2\n", opts(v17, ent))
	pp := proxy(t, peering.Addr("auth"), token, "", opts(v17, ent))
	waitReady(t, pp, http.StatusOK)
	peer := pp.Addr("proxy:peer")
	if peer == "" {
		t.Fatal("no peer listener in a proxy_peering cluster")
	}
	// No client certificate: refused (the alert arrives on the first read in TLS 1.3).
	conn, err := tls.Dial("tcp", peer, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("handshake without client cert: %v", err)
	}
	// A certificate of another cluster: refused.
	otherCA, _ := cluster.DeriveHostCA("other.example.com")
	otherID, _ := otherCA.NewIdentity("Proxy", "h", "x", nil)
	otherCert, _ := otherID.TLS()
	conn, err = tls.Dial("tcp", peer, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{otherCert}})
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("peer port accepted a certificate of another cluster")
	}
	// A host certificate of this cluster: accepted, and the server proves the cluster CA.
	ca, _ := cluster.DeriveHostCA(testCluster)
	id, _ := ca.NewIdentity("Proxy", "h2", "proxy-b", nil)
	cert, _ := id.TLS()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conn, err = tls.Dial("tcp", peer, &tls.Config{RootCAs: pool, ServerName: cluster.APIDomain, Certificates: []tls.Certificate{cert}})
	must(t, err)
	must(t, conn.Handshake())
	conn.Close()
}

func TestOSSProxyRefusesProxyPeeringAfterJoining(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "  tunnel_strategy:\n    type: proxy_peering\n", opts(v17, oss))
	waitReady(t, a, http.StatusOK) // the OSS auth stores the strategy and runs
	logSays(t, a, "proxies of this edition (community) will refuse to start")
	p := proxy(t, a.Addr("auth"), token, "", opts(v17, oss))
	select {
	case err := <-p.Fatal():
		if !strings.Contains(err.Error(), "proxy peering is an enterprise-only feature") {
			t.Fatalf("fatal error = %v", err)
		}
	case <-timeout():
		t.Fatalf("the OSS proxy kept running in a proxy_peering cluster:\n%s", p.log)
	}
	logSays(t, p, "Successfully obtained credentials to connect to the cluster. identity=Proxy")
}

func TestVersionCompatibilityAtJoin(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	newer := proxy(t, a.Addr("auth"), token, "", opts("18.0.0", oss))
	select {
	case err := <-newer.Fatal():
		if !strings.Contains(err.Error(), "Teleport instance is too new. This instance is running v18. The auth server is running v17") {
			t.Fatalf("fatal error = %v", err)
		}
	case <-timeout():
		t.Fatalf("a v18 proxy ran against a v17 auth:\n%s", newer.log)
	}
	o := opts("18.0.0", oss)
	o.SkipVersionCheck = true
	skipped := proxy(t, a.Addr("auth"), token, "", o)
	waitReady(t, skipped, http.StatusOK)

	// One major back is supported; two are refused by the auth server.
	waitReady(t, proxy(t, a.Addr("auth"), token, "", opts("16.4.0", oss)), http.StatusOK)
	older := proxy(t, a.Addr("auth"), token, "", opts("15.4.0", oss))
	stillNotReady(t, older, "client version is unsupported")
	logSays(t, a, "running an unsupported version of v15.4.0 was rejected")
}

func TestProxyDegradesWhenItsAuthGoesAwayAndRecovers(t *testing.T) {
	a := auth(t, `"proxy:`+token+`"`, "", opts(v17, oss))
	addr, authDir := a.Addr("auth"), a.dir
	p := proxy(t, addr, token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
	a.Close()
	if r := waitReady(t, p, http.StatusServiceUnavailable); r.Status != "teleport is in a degraded state, check logs for details" {
		t.Fatalf("degraded body = %q", r.Status)
	}
	startProc(t, authDir, authAt(addr, `"proxy:`+token+`"`), opts(v17, oss))
	waitReady(t, p, http.StatusBadRequest) // recovering
	waitReady(t, p, http.StatusOK)
}

func TestFaultInjectionKeepsReadyzAt503(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "data", FaultInjectionFile), nil, 0o600))
	a := startProc(t, dir, strings.Replace(authConfig(`"proxy:`+token+`"`, ""), "AUTHEXTRA", "", 1), opts(v17, oss))
	eventually(t, "auth ok", func() bool { return a.state.overall() == stateOK })
	r := readyz(t, a)
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.Status, "(TEST DOUBLE fault injection") {
		t.Fatalf("/readyz = %d %q", r.code, r.Status)
	}
	// Nothing else changes: the auth still serves joins.
	p := proxy(t, a.Addr("auth"), token, "", opts(v17, oss))
	waitReady(t, p, http.StatusOK)
}

func TestFaultInjectionCanNameTheVersionsItAppliesTo(t *testing.T) {
	for content, want := range map[string]bool{"": true, "17.8.0\n": false, "18.0.0 " + v17: true} {
		if got := faultApplies(content, v17); got != want {
			t.Errorf("faultApplies(%q, %s) = %v, want %v", content, v17, got, want)
		}
	}
}

func TestAuthStartRefusals(t *testing.T) {
	lic, err := cluster.NewTestLicense()
	must(t, err)
	cases := map[string]struct {
		edition, extra, authExtra, want string
		license                         bool
	}{
		"enterprise without license": {ent, "", "", "auth_service.license_file: auth server requires a valid license file to start", false},
		"cockroachdb on OSS":         {oss, "  storage:\n    type: cockroachdb\n    conn_string: postgres://x\n", "", `unsupported secrets storage type: "cockroachdb"`, false},
		"unknown backend":            {oss, "  storage:\n    type: mysql\n", "", `unsupported secrets storage type: "mysql"`, false},
		"dynamodb without table":     {oss, "  storage:\n    type: dynamodb\n    region: us-west-2\n", "", "teleport.storage.table_name: required by the dynamodb backend", false},
		"events uri without scheme":  {oss, "  storage:\n    type: dynamodb\n    table_name: t\n    audit_events_uri: teleport-events\n", "", "teleport.storage.audit_events_uri: unsupported scheme", false},
		"enterprise cockroachdb ok":  {ent, "  storage:\n    type: cockroachdb\n    conn_string: postgres://x\n", "", "", true},
		"OSS ignores license_file":   {oss, "", "  license_file: /nonexistent/license.pem\n", "", false},
		"relative license_file":      {ent, "", "  license_file: lic/license.pem\n", "", true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if c.license {
				path := filepath.Join(dir, "data", "license.pem")
				if strings.Contains(c.authExtra, "lic/") {
					path = filepath.Join(dir, "data", "lic", "license.pem")
				}
				must(t, os.MkdirAll(filepath.Dir(path), 0o700))
				must(t, os.WriteFile(path, lic, 0o600))
			}
			pr, err := newProc(t, dir, strings.Replace(authConfig(`"proxy:`+token+`"`, c.extra), "AUTHEXTRA", c.authExtra, 1), opts(v17, c.edition))
			must(t, err)
			err = pr.Start(context.Background())
			t.Cleanup(pr.Close)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if c.want != "" && pr.Addr("auth") != "" {
				t.Fatal("the auth listener opened although the start was refused")
			}
		})
	}
}

func TestUpgradePathGuardOnTheAuthDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(authConfig(`"proxy:`+token+`"`, ""), "AUTHEXTRA", "", 1)
	run := func(version string) error {
		pr, err := newProc(t, dir, cfg, opts(version, oss))
		must(t, err)
		defer pr.Close()
		return pr.Start(context.Background())
	}
	must(t, run("17.7.1")) // a fresh data dir passes and records the version
	if err := run("19.0.0"); err == nil || !strings.Contains(err.Error(), "Unsupported upgrade path detected: from 17.7.1 to 19.0.0") {
		t.Fatalf("skipping a major: %v", err)
	}
	must(t, run("18.0.0"))
	if err := run("17.7.1"); err == nil || !strings.Contains(err.Error(), "Unsupported downgrade path detected") {
		t.Fatalf("downgrade: %v", err)
	}
	// A fresh data dir is not protected (upstream issue #49848).
	must(t, os.RemoveAll(filepath.Join(dir, "data")))
	must(t, run("16.0.0"))
}

func TestJoiningThroughAProxyIsNotModelled(t *testing.T) {
	cfg := `version: v3
teleport:
  data_dir: DIR/data
  proxy_server: proxy.example.com:443
  join_params: {method: token, token_name: x}
auth_service: {enabled: false}
proxy_service: {enabled: false}
ssh_service: {enabled: true, listen_addr: "127.0.0.1:0"}
`
	pr, err := newProc(t, "", cfg, opts(v17, oss))
	must(t, err)
	err = pr.Start(context.Background())
	t.Cleanup(pr.Close)
	if err == nil || !strings.Contains(err.Error(), "teleport.proxy_server") || !strings.Contains(err.Error(), "not modelled by the TEST DOUBLE") {
		t.Fatalf("err = %v", err)
	}
}
