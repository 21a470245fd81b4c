package awsiam_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"teleportha.ops/teleport-double/internal/awsfake"
	"teleportha.ops/teleport-double/internal/awsiam"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// env is a fixed environment: nothing leaks in from the test process, and
// the metadata service is off unless a test points at a fake one.
func env(kv ...string) awsiam.Env {
	m := map[string]string{"AWS_EC2_METADATA_DISABLED": "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The signer against signatures computed by botocore (SigV4Auth, with the
// clock fixed): the first is AWS's own documentation example (IAM
// ListUsers), the second a GetCallerIdentity as the joiner builds it.
func TestSignatureMatchesBotocore(t *testing.T) {
	docs, _ := http.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	docs.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	awsiam.Sign(docs, nil, awsiam.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		"us-east-1", "iam", time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))
	if got, want := docs.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"; got != want {
		t.Errorf("documentation example:\n got %s\nwant %s", got, want)
	}

	body := []byte(awsiam.ExpectedSTSIdentityRequestBody)
	sts, _ := http.NewRequest(http.MethodPost, "https://sts.eu-west-1.amazonaws.com/", strings.NewReader(string(body)))
	sts.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sts.Header.Set("Accept", "application/json")
	sts.Header.Set("X-Teleport-Challenge", "challenge-value")
	sts.Header.Set("User-Agent", "not signed")
	awsiam.Sign(sts, body, awsiam.Credentials{AccessKeyID: "ASIATESTKEYID", SecretAccessKey: "test/secret+key", SessionToken: "session-token-value"},
		"eu-west-1", "sts", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	if got, want := sts.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=ASIATESTKEYID/20240501/eu-west-1/sts/aws4_request, SignedHeaders=accept;content-length;content-type;host;x-amz-date;x-amz-security-token;x-teleport-challenge, Signature=5cccd8ae6ee349754b0623ace4f0c8eef3a27259189b53a149e1eb9937b79e22"; got != want {
		t.Errorf("GetCallerIdentity:\n got %s\nwant %s", got, want)
	}
}

func TestSignedRequestIsRegionalWithTheChallengeSigned(t *testing.T) {
	raw, err := awsiam.CreateSignedSTSIdentityRequest(context.Background(),
		env("AWS_REGION", "eu-central-1", "AWS_ACCESS_KEY_ID", "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY", "secret"), "the-challenge", t.Logf)
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	if req.Host != "sts.eu-central-1.amazonaws.com" || req.URL.String() != "https://sts.eu-central-1.amazonaws.com" {
		t.Fatalf("host %q url %q", req.Host, req.URL)
	}
	if _, err := awsiam.ValidateSTSIdentityRequest(req, "the-challenge"); err != nil {
		t.Fatalf("the auth refuses what the joiner built: %v", err)
	}
	sig, err := awsiam.ParseSigV4(req.Header.Get("Authorization"))
	must(t, err)
	if sig.Region != "eu-central-1" || sig.Service != "sts" || sig.KeyID != "AKIAEXAMPLE" {
		t.Fatalf("credential scope %+v", sig)
	}
	if req.Header.Get("X-Amz-Security-Token") != "" {
		t.Fatal("a long-term key has no session token")
	}
}

func TestSTSHostPerPartition(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "sts.us-east-1.amazonaws.com", "cn-north-1": "sts.cn-north-1.amazonaws.com.cn",
		"us-iso-east-1": "sts.us-iso-east-1.c2s.ic.gov", "us-isob-east-1": "sts.us-isob-east-1.sc2s.sgov.gov", "aws-global": "sts.amazonaws.com"} {
		if got := awsiam.STSHost(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}

func TestRegionChain(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		env  awsiam.Env
		want string
		ok   bool
	}{
		"AWS_REGION first":          {env("AWS_REGION", "eu-west-1", "AWS_DEFAULT_REGION", "us-west-2"), "eu-west-1", true},
		"AWS_DEFAULT_REGION second": {env("AWS_DEFAULT_REGION", "us-west-2"), "us-west-2", true},
		"nothing":                   {env(), "", false},
	} {
		got, ok, err := awsiam.Region(ctx, c.env)
		if err != nil || got != c.want || ok != c.ok {
			t.Errorf("%s: %q %v %v", name, got, ok, err)
		}
	}
	imds := awsfake.NewIMDS("ap-southeast-2", "proxy-role", awsiam.Credentials{})
	defer imds.Close()
	got, ok, err := awsiam.Region(ctx, env("AWS_EC2_METADATA_DISABLED", "false", awsiam.EnvIMDSEndpoint, imds.URL))
	if err != nil || !ok || got != "ap-southeast-2" {
		t.Errorf("from IMDS: %q %v %v", got, ok, err)
	}
	if _, _, err := awsiam.Region(ctx, env("AWS_REGION", "eu-west-1.evil.example/")); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("a region that is not a DNS label: %v", err)
	}
}

// Without a region Teleport signs for us-east-1 and says so.
func TestNoRegionFallsBackToUSEast1(t *testing.T) {
	var logged []string
	raw, err := awsiam.CreateSignedSTSIdentityRequest(context.Background(), env("AWS_ACCESS_KEY_ID", "AKIA", "AWS_SECRET_ACCESS_KEY", "s"), "c",
		func(f string, a ...any) { logged = append(logged, f) })
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	if req.Host != "sts.us-east-1.amazonaws.com" || !strings.Contains(strings.Join(logged, "\n"), "Using us-east-1 by default") {
		t.Fatalf("host %q, log %q", req.Host, logged)
	}
}

func TestCredentialChain(t *testing.T) {
	ctx := context.Background()
	c, err := awsiam.ResolveCredentials(ctx, env("AWS_ACCESS_KEY_ID", "AKIA1", "AWS_SECRET_ACCESS_KEY", "s1", "AWS_SESSION_TOKEN", "t1"))
	if err != nil || c.AccessKeyID != "AKIA1" || c.SecretAccessKey != "s1" || c.SessionToken != "t1" || c.Source != "environment" {
		t.Fatalf("environment: %+v %v", c, err)
	}
	imds := awsfake.NewIMDS("eu-west-1", "teleport-proxy", awsiam.Credentials{AccessKeyID: "ASIAIMDS", SecretAccessKey: "imds-secret", SessionToken: "imds-token"})
	defer imds.Close()
	// Half a key in the environment is skipped, as the SDK skips it.
	c, err = awsiam.ResolveCredentials(ctx, env("AWS_EC2_METADATA_DISABLED", "", "AWS_ACCESS_KEY_ID", "AKIA-half", awsiam.EnvIMDSEndpoint, imds.URL))
	if err != nil || c.AccessKeyID != "ASIAIMDS" || c.SessionToken != "imds-token" || c.Source != "instance profile role teleport-proxy" {
		t.Fatalf("instance profile: %+v %v", c, err)
	}
	if _, err := awsiam.ResolveCredentials(ctx, env()); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Fatalf("nothing: %v", err)
	}
	if _, err := awsiam.ResolveCredentials(ctx, env("AWS_EC2_METADATA_DISABLED", "false", awsiam.EnvIMDSEndpoint, "169.254.169.254")); err == nil || !strings.Contains(err.Error(), awsiam.EnvIMDSEndpoint) {
		t.Fatalf("an endpoint that is not a URL: %v", err)
	}
}

// IMDSv2: a read without a session token is refused by the service, so a
// client that skipped the token would get no credentials.
func TestIMDSNeedsASessionToken(t *testing.T) {
	imds := awsfake.NewIMDS("eu-west-1", "r", awsiam.Credentials{})
	defer imds.Close()
	resp, err := http.Get(imds.URL + "/latest/meta-data/placement/region")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("IMDSv1 read: %d", resp.StatusCode)
	}
}

func TestGlobMatchAsTeleport(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*", "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc", true},
		{"arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*", "arn:aws:sts::123456789012:assumed-role/teleport-proxy-evil/i-0abc", false},
		{"arn:aws:sts::123456789012:assumed-role/teleport-?roxy/*", "arn:aws:sts::123456789012:assumed-role/teleport-proxy/x", true},
		{"arn:aws:sts::123456789012:assumed-role/a.b/*", "arn:aws:sts::123456789012:assumed-role/aXb/s", false}, // '.' is literal
		{"arn:aws:sts::123456789012:assumed-role/r/s", "arn:aws:sts::123456789012:assumed-role/r/s/extra", false},
	} {
		got, err := awsiam.GlobMatch(c.pattern, c.s)
		if err != nil || got != c.want {
			t.Errorf("GlobMatch(%q, %q) = %v %v, want %v", c.pattern, c.s, got, err, c.want)
		}
	}
}

func TestAllowRules(t *testing.T) {
	id := &awsiam.Identity{Account: "123456789012", Arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc"}
	for name, c := range map[string]struct {
		rules []awsiam.AllowRule
		ok    bool
	}{
		"account":                {[]awsiam.AllowRule{{AWSAccount: "123456789012"}}, true},
		"other account":          {[]awsiam.AllowRule{{AWSAccount: "111111111111"}}, false},
		"account and arn":        {[]awsiam.AllowRule{{AWSAccount: "123456789012", AWSARN: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/*"}}, true},
		"account, other role":    {[]awsiam.AllowRule{{AWSAccount: "123456789012", AWSARN: "arn:aws:sts::123456789012:assumed-role/teleport-auth/*"}}, false},
		"second rule matches":    {[]awsiam.AllowRule{{AWSAccount: "111111111111"}, {AWSARN: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"}}, true},
		"arn of another account": {[]awsiam.AllowRule{{AWSAccount: "111111111111", AWSARN: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/*"}}, false},
	} {
		err := awsiam.CheckIAMAllowRules(id, "proxy-iam", c.rules)
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && err.Error() != "instance arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-0abc did not match any allow rules in token proxy-iam" {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

func signed(t *testing.T, host, challenge string, mutate func(*http.Request)) *http.Request {
	t.Helper()
	raw, err := awsiam.SignedIdentityRequest(host, "eu-west-1", challenge, awsiam.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}, time.Now())
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	if mutate != nil {
		mutate(req)
	}
	return req
}

func TestValidateRefusesWhatTeleportRefuses(t *testing.T) {
	const ch = "issued-challenge"
	for name, c := range map[string]struct {
		req  *http.Request
		want string
	}{
		"unknown host":     {signed(t, "sts.evil.example", ch, nil), `IAM join request uses unknown STS host "sts.evil.example"`},
		"host with a port": {signed(t, "sts.eu-west-1.amazonaws.com:443", ch, nil), "uses unknown STS host"},
		"loopback host":    {signed(t, "127.0.0.1:4566", ch, nil), `unknown STS host "127.0.0.1:4566"`},
		"lookalike suffix": {signed(t, "sts.us-west-2.amazonaws.com.evil", ch, nil), "unknown STS host"},
		"other challenge":  {signed(t, "sts.eu-west-1.amazonaws.com", "another", nil), "sts identity request does not include challenge header or it does not match"},
		"no challenge":     {signed(t, "sts.eu-west-1.amazonaws.com", ch, func(r *http.Request) { r.Header.Del(awsiam.ChallengeHeader) }), "does not include challenge header"},
		"GET":              {signed(t, "sts.eu-west-1.amazonaws.com", ch, func(r *http.Request) { r.Method = http.MethodGet }), `does not match expected method "POST"`},
		"no Authorization": {signed(t, "sts.eu-west-1.amazonaws.com", ch, func(r *http.Request) { r.Header.Del("Authorization") }), "empty AWS SigV4 header"},
		"challenge not signed": {signed(t, "sts.eu-west-1.amazonaws.com", ch, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-teleport-challenge", "", 1))
		}), "does not include x-teleport-challenge as a signed header"},
	} {
		if _, err := awsiam.ValidateSTSIdentityRequest(c.req, ch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	raw := []byte("POST /?Action=AssumeRole HTTP/1.1\r\nHost: sts.amazonaws.com\r\nContent-Length: 0\r\n\r\n")
	if _, err := awsiam.ParseSTSRequest(raw); err == nil || !strings.Contains(err.Error(), "unexpected sts identity request URI") {
		t.Errorf("another URI: %v", err)
	}
	other := signed(t, "sts.eu-west-1.amazonaws.com", ch, nil)
	other.Body = http.NoBody
	if _, err := awsiam.ValidateSTSIdentityRequest(other, ch); err == nil || !strings.Contains(err.Error(), "does not equal expected") {
		t.Errorf("another body: %v", err)
	}
}

func execute(t *testing.T, sts *awsfake.STS, creds awsiam.Credentials, host string) (*awsiam.Identity, error) {
	t.Helper()
	raw, err := awsiam.SignedIdentityRequest(host, "eu-west-1", "c", creds, time.Now())
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	body, err := awsiam.ValidateSTSIdentityRequest(req, "c")
	must(t, err)
	override, err := awsiam.ParseSTSOverride(sts.URL)
	must(t, err)
	return awsiam.ExecuteSTSIdentityRequest(context.Background(), sts.Client(), req, body, override, t.Logf)
}

func TestExecuteAgainstTheFakeSTS(t *testing.T) {
	sts := awsfake.NewSTS()
	defer sts.Close()
	sts.AddKey("ASIAGOOD", awsfake.Key{Secret: "good", SessionToken: "tok", Account: "123456789012", Arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-1"})
	sts.AddKey("ASIAOLD", awsfake.Key{Secret: "old", SessionToken: "tok", Account: "123456789012", Arn: "x", Expired: true})

	id, err := execute(t, sts, awsiam.Credentials{AccessKeyID: "ASIAGOOD", SecretAccessKey: "good", SessionToken: "tok"}, "sts.eu-west-1.amazonaws.com")
	if err != nil || id.Account != "123456789012" || id.Arn != "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-1" {
		t.Fatalf("good key: %+v %v", id, err)
	}
	// The override changes where the request goes, not its Host header.
	if hosts := sts.Hosts(); hosts[len(hosts)-1] != "sts.eu-west-1.amazonaws.com" {
		t.Fatalf("Host header at STS: %v", hosts)
	}
	for name, c := range map[string]struct {
		creds awsiam.Credentials
		want  string
	}{
		"wrong secret":  {awsiam.Credentials{AccessKeyID: "ASIAGOOD", SecretAccessKey: "bad", SessionToken: "tok"}, "SignatureDoesNotMatch"},
		"unknown key":   {awsiam.Credentials{AccessKeyID: "ASIANONE", SecretAccessKey: "x"}, "InvalidClientTokenId"},
		"expired token": {awsiam.Credentials{AccessKeyID: "ASIAOLD", SecretAccessKey: "old", SessionToken: "tok"}, "ExpiredToken"},
	} {
		_, err := execute(t, sts, c.creds, "sts.eu-west-1.amazonaws.com")
		if err == nil || !strings.HasPrefix(err.Error(), `aws sts api returned status: "403 Forbidden" body: `) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A request altered after signing fails at STS: the fake checks signatures
// as STS does, so a signing bug cannot pass unnoticed.
func TestFakeSTSRefusesARequestAlteredAfterSigning(t *testing.T) {
	sts := awsfake.NewSTS()
	defer sts.Close()
	sts.AddKey("AKIA", awsfake.Key{Secret: "s", Account: "123456789012", Arn: "arn:aws:iam::123456789012:user/u"})
	raw, err := awsiam.SignedIdentityRequest("sts.eu-west-1.amazonaws.com", "eu-west-1", "c", awsiam.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}, time.Now())
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	req.Header.Set(awsiam.ChallengeHeader, "swapped")
	u, _ := url.Parse(sts.URL)
	_, err = awsiam.ExecuteSTSIdentityRequest(context.Background(), sts.Client(), req, []byte(awsiam.ExpectedSTSIdentityRequestBody), &url.URL{Scheme: "http", Host: u.Host, Path: "/"}, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("altered challenge: %v", err)
	}
}

func TestOverrideIsAHostAndPortOnly(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:4566", "ftp://127.0.0.1:21", "http://127.0.0.1", "http://127.0.0.1:4566/sts", "http://u:p@127.0.0.1:4566", "http://127.0.0.1:4566/?x=1"} {
		if _, err := awsiam.ParseSTSOverride(bad); err == nil || !strings.Contains(err.Error(), awsiam.EnvSTSEndpointOverride) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	u, err := awsiam.ParseSTSOverride("http://198.18.0.10:5000")
	if err != nil || u.String() != "http://198.18.0.10:5000/" {
		t.Fatalf("%v %v", u, err)
	}
}

// Without the override the request goes to https://<signed Host>/: the auth
// builds that URL itself, so a test can check it without leaving loopback.
func TestWithoutOverrideTheRequestGoesToTheSignedHostOverHTTPS(t *testing.T) {
	var seen *http.Request
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		seen = r
		return nil, errors.New("stop")
	})}
	raw, err := awsiam.SignedIdentityRequest("sts.eu-west-1.amazonaws.com", "eu-west-1", "c", awsiam.Credentials{AccessKeyID: "A", SecretAccessKey: "s"}, time.Now())
	must(t, err)
	req, err := awsiam.ParseSTSRequest(raw)
	must(t, err)
	body, err := awsiam.ValidateSTSIdentityRequest(req, "c")
	must(t, err)
	if _, err := awsiam.ExecuteSTSIdentityRequest(context.Background(), client, req, body, nil, t.Logf); err == nil {
		t.Fatal("the transport refused, yet no error")
	}
	if seen == nil || seen.URL.String() != "https://sts.eu-west-1.amazonaws.com/" || seen.Host != "sts.eu-west-1.amazonaws.com" {
		t.Fatalf("sent to %v", seen.URL)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// XML (what moto answers) is parsed only from the override endpoint; from
// the real endpoint Teleport would refuse it, and so does the double.
func TestXMLAnswerOnlyThroughTheOverride(t *testing.T) {
	xmlAnswer := func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"text/xml"}},
			Body: ioNopCloser(`<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)}, nil
	}
	run := func(override *url.URL) (*awsiam.Identity, error) {
		req := signed(t, "sts.eu-west-1.amazonaws.com", "c", nil)
		body, err := awsiam.ValidateSTSIdentityRequest(req, "c")
		must(t, err)
		return awsiam.ExecuteSTSIdentityRequest(context.Background(), &http.Client{Transport: roundTrip(xmlAnswer)}, req, body, override, t.Logf)
	}
	if _, err := run(nil); err == nil {
		t.Fatal("XML from the real endpoint was accepted")
	}
	id, err := run(&url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: "/"})
	if err != nil || id.Account != "1" || id.Arn != "arn:aws:sts::1:assumed-role/r/s" {
		t.Fatalf("XML through the override: %+v %v", id, err)
	}
}

func ioNopCloser(s string) *nopBody { return &nopBody{strings.NewReader(s)} }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }
