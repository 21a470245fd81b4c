package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"teleportha.ops/teleport-double/internal/config"
)

// runProxy is the proxy service: join (or use the local auth), learn the
// cluster's networking config, then open the listeners.
// mirrors lib/service.(*TeleportProcess).initProxy, whose "proxy.init"
// critical function waits for the Proxy identity and then runs
// initProxyEndpoint.
func (p *Process) runProxy() error {
	var s *session
	var net networkingResponse
	var err error
	if p.rt.Auth.Enabled {
		if s, err = p.localSession("Proxy"); err != nil {
			return err
		}
		net = p.networking()
	} else {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.joinInstance()
		}()
		if s, err = p.connect("Proxy"); err != nil {
			if errors.Is(err, p.ctx.Err()) {
				return nil
			}
			return err
		}
		if err := s.client.call(p.ctx, http.MethodGet, pathNetworking, nil, &net); err != nil {
			return fmt.Errorf("fetching the cluster networking config: %v", err)
		}
	}
	p.cluster.Store(&clusterInfo{Name: s.ping.ClusterName, TunnelStrategy: net.TunnelStrategy,
		AgentConnections: net.AgentConnectionCount, ProxyListenerMode: net.ProxyListenerMode, AuthVersion: s.ping.ServerVersion})

	// mirrors lib/service.(*TeleportProcess).setupProxyListeners: the tunnel
	// strategy is the cluster's (from the auth server), read once at start,
	// whatever this proxy's own file says.
	if net.TunnelStrategy == "proxy_peering" && !p.enterprise() {
		return errors.New("proxy peering is an enterprise-only feature (auth_service.tunnel_strategy.type is proxy_peering in this cluster: run the teleport-ent build, or set agent_mesh on the auth servers)")
	}
	// mirrors lib/service.(*CertReloader).Run: the first load is synchronous
	// and fatal.
	if err := p.reloadCerts(); err != nil {
		return err
	}
	web := http.NewServeMux()
	web.HandleFunc("/webapi/ping", p.ping)
	web.HandleFunc("/v1/webapi/ping", p.ping)
	for path, h := range p.extraWeb {
		web.Handle(path, h)
	}
	web.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "Teleport proxy %s\n", Marker)
	})
	wtc := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return pickCert(*p.webCerts.Load(), h), nil
	}}
	if err := p.serve("proxy:web", p.rt.Proxy.WebAddr, wtc, web); err != nil {
		return err
	}
	if net.TunnelStrategy == "proxy_peering" {
		// PeerAddr defaults to 0.0.0.0:3021 (servicecfg.ProxyConfig.PeerAddr).
		addr := p.rt.Proxy.PeerAddr
		if addr == "" {
			addr = config.DefaultPeerListenAddr
		}
		chain := s.cert
		chain.Certificate = append(chain.Certificate, s.cas[0].Raw)
		// The peer server only talks to holders of a host certificate of the
		// cluster (lib/proxy/peer: mTLS with the host CA).
		ptc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{chain},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: s.caPool()}
		if err := p.serve("proxy:peer", addr, ptc, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "proxy peer gRPC endpoint "+Marker, http.StatusUnsupportedMediaType)
		})); err != nil {
			return err
		}
	}
	for typ, a := range map[string]string{"proxy:ssh": p.rt.Proxy.SSHAddr, "proxy:tunnel": p.rt.Proxy.TunnelAddr,
		"proxy:kube": p.rt.Proxy.KubeAddr, "proxy:mysql": p.rt.Proxy.MySQLAddr, "proxy:postgres": p.rt.Proxy.PostgresAddr, "proxy:mongo": p.rt.Proxy.MongoAddr} {
		if a != "" {
			if err := p.serveBanner(typ, a); err != nil {
				return err
			}
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.reloadLoop()
	}()
	p.logf("Proxy service is running: cluster %q, tunnel strategy %s, %s", s.ping.ClusterName, net.TunnelStrategy, p.describe())
	p.writeState()
	p.state.ok("proxy")
	if s.client != nil {
		p.watchAuth("proxy", s)
	}
	return nil
}

// joinInstance obtains the Instance identity, which every agent requests
// besides its service identities; it only logs when that fails.
func (p *Process) joinInstance() {
	if _, err := p.connect("Instance"); err != nil && !errors.Is(err, p.ctx.Err()) {
		p.logf("ERROR instance identity: %v", err)
	}
}

// runNode is the SSH service: it joins and listens, and implements no SSH.
func (p *Process) runNode() error {
	var s *session
	var err error
	if p.rt.Auth.Enabled {
		s, err = p.localSession("Node")
	} else {
		s, err = p.connect("Node")
	}
	if err != nil {
		if errors.Is(err, p.ctx.Err()) {
			return nil
		}
		return err
	}
	// The node talks only to holders of a host certificate of the cluster: a
	// proxy forwarding a user (lib/srv/regular; the double's sessions, session.go).
	chain := s.cert
	chain.Certificate = append(chain.Certificate, s.cas[0].Raw)
	ntc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{chain},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: s.caPool()}
	mux := http.NewServeMux()
	mux.HandleFunc("/test-double/v1/exec", p.handleExec)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Teleport SSH Service: the double speaks no SSH; POST /test-double/v1/exec "+Marker, http.StatusNotFound)
	})
	if err := p.serve("node", p.rt.SSH.ListenAddr, ntc, mux); err != nil {
		return err
	}
	p.writeState()
	p.state.ok("node")
	if s.client != nil {
		p.watchAuth("node", s)
	}
	return nil
}

func (p *Process) reloadCerts() error {
	pairs := p.rt.Proxy.KeyPairs
	if len(pairs) == 0 {
		if p.webCerts.Load() != nil {
			return nil
		}
		// Without key pairs or ACME Teleport generates a self-signed web
		// certificate (lib/service initSelfSignedHTTPSCert).
		c, err := selfSigned(p.webNames())
		if err != nil {
			return err
		}
		p.logf("WARN No TLS Keys provided, using self-signed certificate.")
		certs := []tls.Certificate{c}
		p.webCerts.Store(&certs)
		return nil
	}
	certs, err := loadKeyPairs(pairs)
	if err != nil {
		return err
	}
	p.webCerts.Store(&certs)
	p.certLoads.Add(1)
	return nil
}

func (p *Process) webNames() []string {
	names := []string{p.rt.NodeName}
	return append(names, p.dnsNames()...)
}

// reloadLoop mirrors the periodic half of lib/service.(*CertReloader).Run:
// only with https_keypairs_reload_interval > 0, and a failed load keeps the
// pairs in use.
func (p *Process) reloadLoop() {
	interval := p.rt.Proxy.ReloadInterval
	if interval <= 0 || len(p.rt.Proxy.KeyPairs) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			if err := p.reloadCerts(); err != nil {
				p.logf("WARN Failed to load certificates: %v", err)
			}
		}
	}
}

// CertNotAfter is the expiry of the web certificate in use.
func (p *Process) CertNotAfter() time.Time {
	certs := p.webCerts.Load()
	if certs == nil || len(*certs) == 0 || (*certs)[0].Leaf == nil {
		return time.Time{}
	}
	return (*certs)[0].Leaf.NotAfter
}
