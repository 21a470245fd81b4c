// Command stub is built as tctl, tsh and tbot for the Teleport TEST DOUBLE
// release tarball: each prints its version; tctl also implements `status`,
// which the deployment uses to read the cluster's CA pin.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"teleportha.ops/teleport-double/internal/build"
	"teleportha.ops/teleport-double/internal/cluster"
	"teleportha.ops/teleport-double/internal/config"
)

// name is set at build time with -ldflags -X main.name=tctl.
var name = "tctl"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(stdout, "%s: %s\n", name, build.VersionLine())
		return 0
	}
	if name == "tctl" && len(args) > 0 && args[0] == "status" {
		if err := status(args[1:], stdout); err != nil {
			fmt.Fprintf(stderr, "ERROR: %v %s\n", err, build.Marker)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "%s: only 'version'%s is implemented by the Teleport test double %s\n", name, map[bool]string{true: " and 'status'"}[name == "tctl"], build.Marker)
	return 2
}

// status mirrors tool/tctl/common.(*StatusCommand).Status: Ping for the
// cluster name and version, GetClusterCACert for the CA pins
// (tlsca.CalculatePins), printed as an asciitable headless two-column table.
func status(args []string, stdout io.Writer) error {
	configPath, authServer := "/etc/teleport.yaml", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-c" || a == "--config") && i+1 < len(args):
			configPath, i = args[i+1], i+1
		case strings.HasPrefix(a, "--config="):
			configPath = strings.TrimPrefix(a, "--config=")
		case a == "--auth-server" && i+1 < len(args):
			authServer, i = args[i+1], i+1
		case strings.HasPrefix(a, "--auth-server="):
			authServer = strings.TrimPrefix(a, "--auth-server=")
		default:
			return fmt.Errorf("tctl status: unknown flag %q (the double supports -c FILE and --auth-server HOST:PORT)", a)
		}
	}
	addr, err := authAddress(configPath, authServer)
	if err != nil {
		return err
	}
	// The double's tctl has no admin identity: it reads only what Teleport
	// gives any caller (Ping, GetClusterCACert), without verifying the server.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: cluster.APIDomain}}}
	get := func(path string, out any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+path, nil)
		req.Header.Set("Version", build.Version)
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("cannot reach the auth server at %s: %v (is teleport running there?)", addr, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("%s%s: HTTP %d %s", addr, path, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var ping struct {
		ClusterName   string `json:"cluster_name"`
		ServerVersion string `json:"server_version"`
	}
	if err := get("/v1/double/ping", &ping); err != nil {
		return err
	}
	var ca struct {
		TLSCA string `json:"tls_ca"`
	}
	if err := get("/v1/double/cacert", &ca); err != nil {
		return err
	}
	certs, err := cluster.ParseCertsPEM([]byte(ca.TLSCA))
	if err != nil {
		return fmt.Errorf("the auth server's CA: %v", err)
	}
	rows := [][2]string{{"Cluster", ping.ClusterName}, {"Version", ping.ServerVersion}}
	// api/types.CertAuthTypes; a CA that was never rotated reads "never updated"
	// (api/types.(*Rotation).String).
	for _, t := range []string{"host", "user", "db", "db_client", "openssh", "jwt", "saml_idp", "oidc_idp", "spiffe", "okta", "awsra"} {
		rows = append(rows, [2]string{t + " CA ", "never updated"})
	}
	for _, c := range certs {
		rows = append(rows, [2]string{"CA pin", cluster.Pin(c)})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-*s %s %s\n", width, r[0], r[1], build.Marker)
	}
	return nil
}

// authAddress is where tctl finds the auth server: --auth-server, else the
// local auth service's listen_addr (a wildcard host means this host), else
// teleport.auth_server.
func authAddress(configPath, flag string) (string, error) {
	if flag != "" {
		return config.ParseHostPortAddr(flag, 3025)
	}
	f, err := config.Load(configPath)
	if err != nil {
		return "", err
	}
	rt, err := config.Apply(f)
	if err != nil {
		return "", fmt.Errorf("%s: %v", configPath, err)
	}
	if rt.Auth.Enabled {
		host, port, _ := net.SplitHostPort(rt.Auth.ListenAddr)
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		return net.JoinHostPort(host, port), nil
	}
	if rt.AuthServer != "" {
		return rt.AuthServer, nil
	}
	return "", fmt.Errorf("%s: neither auth_service nor teleport.auth_server is configured; pass --auth-server HOST:PORT", configPath)
}
