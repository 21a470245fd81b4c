package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"teleportha.ops/teleport-double/internal/awsfake"
	"teleportha.ops/teleport-double/internal/awsiam"
)

const (
	awsAccount   = "123456789012"
	proxyRoleARN = "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc123"
	proxyRules   = `[{aws_account: "123456789012", aws_arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"}]`
)

// proxyCreds is the environment of a proxy whose instance role session is
// proxyRoleARN at the fake STS.
var proxyCreds = []string{"AWS_REGION", "eu-west-1", "AWS_ACCESS_KEY_ID", "ASIAPROXY", "AWS_SECRET_ACCESS_KEY", "proxy-secret", "AWS_SESSION_TOKEN", "proxy-session"}

// mapEnv is a process environment of its own: nothing leaks in from the
// test process, and the metadata service is off unless the pairs turn it on.
func mapEnv(kv ...string) func(string) (string, bool) {
	m := map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func newSTS(t *testing.T) *awsfake.STS {
	t.Helper()
	s := awsfake.NewSTS()
	t.Cleanup(s.Close)
	s.AddKey("ASIAPROXY", awsfake.Key{Secret: "proxy-secret", SessionToken: "proxy-session", Account: awsAccount, Arn: proxyRoleARN})
	s.AddKey("ASIAOLD", awsfake.Key{Secret: "old-secret", SessionToken: "old-session", Account: awsAccount, Arn: proxyRoleARN, Expired: true})
	return s
}

func tokenYAML(name, method, roles, allow string) string {
	y := "kind: token\nversion: v2\nmetadata:\n  name: " + name + "\nspec:\n  roles: " + roles + "\n  join_method: " + method + "\n"
	if allow != "" {
		y += "  allow: " + allow + "\n"
	}
	return y
}

// iamAuth starts an auth double that applies resources on startup and
// reaches stsURL through the sandbox override.
func iamAuth(t *testing.T, resources, stsURL string) *proc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resources.yaml")
	must(t, os.WriteFile(path, []byte(resources), 0o600))
	o := opts(v17, oss)
	o.ApplyOnStartupFile = path
	o.LookupEnv = mapEnv(awsiam.EnvSTSEndpointOverride, stsURL)
	return startProc(t, "", strings.Replace(authConfig(`"node:static-token"`, ""), "AUTHEXTRA", "", 1), o)
}

// iamProxy starts a proxy joining addr with method (iam or token) and the
// token name, in the AWS environment env.
func iamProxy(t *testing.T, addr, method, tokenName string, env ...string) *proc {
	t.Helper()
	o := opts(v17, oss)
	o.LookupEnv = mapEnv(env...)
	cfg := strings.Replace(strings.Replace(strings.Replace(proxyConfig(addr, tokenName, ""), "method: token", "method: "+method, 1), "PROXYEXTRA", "", 1), "SSH", "false", 1)
	return startProc(t, "", cfg, o)
}

func TestProxyJoinsWithIAMAndATokenAppliedOnStartup(t *testing.T) {
	sts := newSTS(t)
	a := iamAuth(t, tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), sts.URL)
	waitReady(t, a, http.StatusOK)
	logSays(t, a, "Applying resources (apply-on-startup) resource_count=1")
	logSays(t, a, "WARN "+awsiam.EnvSTSEndpointOverride+" is set: IAM joins send the signed sts:GetCallerIdentity request to "+sts.URL+"/ instead of https://<its signed Host>/.")
	p := iamProxy(t, a.Addr("auth"), "iam", "proxy-iam", proxyCreds...)
	waitReady(t, p, http.StatusOK)
	logSays(t, p, "Attempting to register with IAM method using region STS endpoint. role=Proxy")
	logSays(t, a, `with role Proxy. join_method=iam aws_arn="`+proxyRoleARN+`"`)
	logSays(t, a, `with role Instance. join_method=iam`)
	hosts := sts.Hosts()
	if len(hosts) == 0 {
		t.Fatal("the auth did not ask STS")
	}
	for _, h := range hosts {
		if h != "sts.eu-west-1.amazonaws.com" {
			t.Fatalf("STS saw Host %q: the override must keep the signed Host", h)
		}
	}
}

// Every service the double models joins the same way: an SSH node here.
func TestNodeJoinsWithIAM(t *testing.T) {
	sts := newSTS(t)
	a := iamAuth(t, tokenYAML("node-iam", "iam", "[Node]", proxyRules), sts.URL)
	o := opts(v17, oss)
	o.LookupEnv = mapEnv(proxyCreds...)
	n := startProc(t, "", `version: v3
teleport:
  nodename: node-a
  data_dir: DIR/data
  diag_addr: 127.0.0.1:0
  auth_server: `+a.Addr("auth")+`
  join_params: {method: iam, token_name: node-iam}
auth_service: {enabled: false}
proxy_service: {enabled: false}
ssh_service: {enabled: true, listen_addr: "127.0.0.1:0"}
`, o)
	waitReady(t, n, http.StatusOK)
	logSays(t, a, `Node "node-a"`)
	logSays(t, a, `with role Node. join_method=iam`)
}

// On EC2 the credentials and the region come from the instance profile
// through IMDSv2, not from the environment.
func TestIAMJoinWithTheInstanceProfile(t *testing.T) {
	sts := newSTS(t)
	imds := awsfake.NewIMDS("eu-central-1", "teleport-proxy", awsiam.Credentials{AccessKeyID: "ASIAPROXY", SecretAccessKey: "proxy-secret", SessionToken: "proxy-session"})
	t.Cleanup(imds.Close)
	a := iamAuth(t, tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), sts.URL)
	p := iamProxy(t, a.Addr("auth"), "iam", "proxy-iam", "AWS_EC2_METADATA_DISABLED", "false", awsiam.EnvIMDSEndpoint, imds.URL)
	waitReady(t, p, http.StatusOK)
	logSays(t, p, "with AWS credentials from instance profile role teleport-proxy")
	if hosts := sts.Hosts(); hosts[0] != "sts.eu-central-1.amazonaws.com" {
		t.Fatalf("signed for %v, want the region from IMDS", hosts)
	}
}

func TestIAMJoinRefusals(t *testing.T) {
	oldCreds := []string{"AWS_REGION", "eu-west-1", "AWS_ACCESS_KEY_ID", "ASIAOLD", "AWS_SECRET_ACCESS_KEY", "old-secret", "AWS_SESSION_TOKEN", "old-session"}
	wrongSecret := append(append([]string{}, proxyCreds...), "AWS_SECRET_ACCESS_KEY", "not-the-secret")
	noMatch := "instance " + proxyRoleARN + " did not match any allow rules in token proxy-iam"
	cases := map[string]struct {
		resources, token string
		env              []string
		want, also       string
	}{
		"account mismatch":    {tokenYAML("proxy-iam", "iam", "[Proxy]", `[{aws_account: "111111111111"}]`), "proxy-iam", proxyCreds, "checking allow rules: " + noMatch, ""},
		"ARN mismatch":        {tokenYAML("proxy-iam", "iam", "[Proxy]", `[{aws_account: "123456789012", aws_arn: "arn:aws:sts::123456789012:assumed-role/teleport-auth/*"}]`), "proxy-iam", proxyCreds, noMatch, ""},
		"ARN of one instance": {tokenYAML("proxy-iam", "iam", "[Proxy]", `[{aws_arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0other"}]`), "proxy-iam", proxyCreds, noMatch, ""},
		"token not iam":       {tokenYAML("proxy-iam", "token", "[Proxy]", ""), "proxy-iam", proxyCreds, "checking iam request: this token does not support the IAM join method", ""},
		"unknown token":       {tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "other-name", proxyCreds, "token expired or not found", ""},
		"expired token":       {strings.Replace(tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "name: proxy-iam", "name: proxy-iam\n  expires: 2001-01-01T00:00:00Z", 1), "proxy-iam", proxyCreds, "token expired or not found", ""},
		"role not allowed":    {tokenYAML("proxy-iam", "iam", "[Node]", proxyRules), "proxy-iam", proxyCreds, `the token does not allow "Proxy" role`, ""},
		"expired credentials": {tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "proxy-iam", oldCreds, `executing STS request: aws sts api returned status: "403 Forbidden"`, "ExpiredToken"},
		"wrong secret":        {tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "proxy-iam", wrongSecret, `aws sts api returned status: "403 Forbidden"`, "SignatureDoesNotMatch"},
		"no credentials":      {tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "proxy-iam", []string{"AWS_REGION", "eu-west-1"}, "no AWS credentials", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			sts := newSTS(t)
			a := iamAuth(t, c.resources, sts.URL)
			p := iamProxy(t, a.Addr("auth"), "iam", c.token, c.env...)
			stillNotReady(t, p, c.want)
			if c.also != "" {
				logSays(t, p, c.also)
			}
		})
	}
}

// A proxy left on the token method with the name of an iam token is sent
// to the right endpoint, as Teleport's RegisterUsingToken does.
func TestIAMTokenOnTheTokenEndpoint(t *testing.T) {
	sts := newSTS(t)
	a := iamAuth(t, tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), sts.URL)
	p := iamProxy(t, a.Addr("auth"), "token", "proxy-iam", proxyCreds...)
	stillNotReady(t, p, "this token is only valid for the iam join method but the node has connected to the wrong endpoint, make sure your node is configured to use the iam join method")
	if len(sts.Hosts()) != 0 {
		t.Fatal("a token join reached STS")
	}
}

func publicKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	must(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// What a forged or replayed answer gets: the signed Host must be one of
// Teleport's STS endpoints (the sandbox override's own address included:
// the override never widens the list), and the challenge the one issued on
// this connection. None of them reaches STS.
func TestIAMJoinRefusesForgedAnswers(t *testing.T) {
	sts := newSTS(t)
	a := iamAuth(t, tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), sts.URL)
	waitReady(t, a, http.StatusOK)
	client := &authClient{addr: a.Addr("auth"), tc: &tls.Config{InsecureSkipVerify: true}, version: v17, role: "Proxy"}
	creds := awsiam.Credentials{AccessKeyID: "ASIAPROXY", SecretAccessKey: "proxy-secret", SessionToken: "proxy-session"}
	register := registerRequest{Token: "proxy-iam", Role: "Proxy", HostID: "forged-host", NodeName: "forger", PublicKey: publicKeyPEM(t)}
	sign := func(host, challenge string) []byte {
		raw, err := awsiam.SignedIdentityRequest(host, "eu-west-1", challenge, creds, time.Now())
		must(t, err)
		return raw
	}
	// answer runs one exchange on a fresh connection: ask for a challenge
	// (unless ask is false), then send what build makes of it.
	answer := func(ask bool, build func(challenge string) []byte) error {
		s, err := client.stream(context.Background())
		must(t, err)
		defer s.close()
		var ch iamChallengeResponse
		if ask {
			must(t, s.call(http.MethodPost, pathIAMChallenge, struct{}{}, &ch))
		}
		return s.call(http.MethodPost, pathRegisterIAM, iamRegisterRequest{Register: register, STSIdentityRequest: build(ch.Challenge)}, &registerResponse{})
	}
	stsHostPort := strings.TrimPrefix(sts.URL, "http://")
	var otherConnection string
	s, err := client.stream(context.Background())
	must(t, err)
	var ch iamChallengeResponse
	must(t, s.call(http.MethodPost, pathIAMChallenge, struct{}{}, &ch))
	otherConnection = ch.Challenge
	s.close()

	cases := map[string]struct {
		ask   bool
		build func(string) []byte
		want  string
	}{
		"host not an STS endpoint": {true, func(c string) []byte { return sign("sts.evil.example", c) }, `IAM join request uses unknown STS host "sts.evil.example"`},
		"the override's address":   {true, func(c string) []byte { return sign(stsHostPort, c) }, `IAM join request uses unknown STS host "` + stsHostPort + `"`},
		"no challenge header": {true, func(c string) []byte {
			return regexp.MustCompile(`(?m)^X-Teleport-Challenge: .*\r\n`).ReplaceAll(sign("sts.eu-west-1.amazonaws.com", c), nil)
		}, "sts identity request does not include challenge header or it does not match"},
		"challenge of another connection": {true, func(string) []byte { return sign("sts.eu-west-1.amazonaws.com", otherConnection) }, "does not include challenge header or it does not match"},
		"no challenge asked":              {false, func(string) []byte { return sign("sts.eu-west-1.amazonaws.com", "guess") }, "no IAM join challenge was issued on this connection"},
		"not a GetCallerIdentity": {true, func(c string) []byte {
			return bytes.Replace(sign("sts.eu-west-1.amazonaws.com", c), []byte("POST / HTTP/1.1"), []byte("POST /?Action=AssumeRole HTTP/1.1"), 1)
		}, `unexpected sts identity request URI: "/?Action=AssumeRole"`},
	}
	for name, c := range cases {
		err := answer(c.ask, c.build)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if hosts := sts.Hosts(); len(hosts) != 0 {
		t.Fatalf("refused answers reached STS: %v", hosts)
	}
	logSays(t, a, "Detected an invalid sts:GetCallerIdentity used by a client attempting to use the IAM join method")

	// The issued challenge put in after signing passes the auth's checks and
	// fails at STS: the signature covers the header.
	err = answer(true, func(c string) []byte {
		return bytes.Replace(sign("sts.eu-west-1.amazonaws.com", "signed-challenge"), []byte("X-Teleport-Challenge: signed-challenge"), []byte("X-Teleport-Challenge: "+c), 1)
	})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("challenge swapped after signing: %v", err)
	}
	// And the genuine answer joins.
	if err := answer(true, func(c string) []byte { return sign("sts.eu-west-1.amazonaws.com", c) }); err != nil {
		t.Fatalf("a genuine answer: %v", err)
	}
}

func TestSTSOverrideThatIsNotAURLRefusesTheAuthStart(t *testing.T) {
	o := opts(v17, oss)
	o.LookupEnv = mapEnv(awsiam.EnvSTSEndpointOverride, "127.0.0.1:4566")
	pr, err := newProc(t, "", strings.Replace(authConfig(`"proxy:`+token+`"`, ""), "AUTHEXTRA", "", 1), o)
	must(t, err)
	err = pr.Start(context.Background())
	t.Cleanup(pr.Close)
	if err == nil || !strings.Contains(err.Error(), awsiam.EnvSTSEndpointOverride+`="127.0.0.1:4566"`) || pr.Addr("auth") != "" {
		t.Fatalf("err = %v", err)
	}
}

// Teleport reads the --apply-on-startup file before it applies the config,
// whatever services run, and a bad resource stops the start.
func TestApplyOnStartupFileIsCheckedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resources.yaml")
	must(t, os.WriteFile(path, []byte(tokenYAML("proxy-iam", "iam", "[Proxy]", "")), 0o600))
	o := opts(v17, oss)
	o.ApplyOnStartupFile = path
	for _, cfg := range []string{strings.Replace(authConfig(`"proxy:`+token+`"`, ""), "AUTHEXTRA", "", 1), strings.Replace(proxyConfig("auth:3025", token, ""), "PROXYEXTRA", "", 1)} {
		_, err := newProc(t, "", cfg, o)
		if err == nil || !strings.Contains(err.Error(), "--apply-on-startup "+path+": resource 1 (line 1): spec.allow: the \"iam\" join method requires defined token allow rules") {
			t.Fatalf("err = %v", err)
		}
	}
}

// The sandbox's STS is moto: the double must join through it. Skipped
// where the project's virtualenv has no moto_server.
func TestIAMJoinThroughMoto(t *testing.T) {
	motoServer, err := filepath.Abs(filepath.Join("..", "..", "..", "..", ".venv", "bin", "moto_server"))
	must(t, err)
	if _, err := os.Stat(motoServer); err != nil {
		t.Skipf("no moto_server at %s", motoServer)
	}
	addr := freePort(t)
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(motoServer, "-H", host, "-p", port)
	var motoLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &motoLog, &motoLog
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "moto_server on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/moto-api/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// Credentials of an instance role session, as the sandbox's IMDS hands
	// them out: moto's AssumeRole (moto does not check the caller's signature).
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::123456789012:role/teleport-proxy"}, "RoleSessionName": {"i-0moto"}}.Encode()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(form))
	must(t, err)
	req.Host = "sts.eu-west-1.amazonaws.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	awsiam.Sign(req, []byte(form), awsiam.Credentials{AccessKeyID: "AKIAMOTOCALLER", SecretAccessKey: "moto"}, "eu-west-1", "sts", time.Now())
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var assumed struct {
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
		} `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &assumed); err != nil || assumed.Credentials.AccessKeyID == "" {
		t.Fatalf("moto AssumeRole: %d %s (%v)\n%s", resp.StatusCode, body, err, motoLog.String())
	}
	c := assumed.Credentials
	a := iamAuth(t, tokenYAML("proxy-iam", "iam", "[Proxy]", proxyRules), "http://"+addr)
	p := iamProxy(t, a.Addr("auth"), "iam", "proxy-iam", "AWS_REGION", "eu-west-1",
		"AWS_ACCESS_KEY_ID", c.AccessKeyID, "AWS_SECRET_ACCESS_KEY", c.SecretAccessKey, "AWS_SESSION_TOKEN", c.SessionToken)
	waitReady(t, p, http.StatusOK)
	logSays(t, a, `join_method=iam aws_arn="arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0moto"`)
	logSays(t, a, "answered in XML although JSON was asked for (moto does)")
}
