package awsiam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Env looks up an environment variable (os.LookupEnv outside tests).
type Env func(string) (string, bool)

// OSEnv is the process environment.
var OSEnv Env = os.LookupEnv

func (e Env) get(names ...string) (string, string) {
	for _, n := range names {
		if v, ok := e(n); ok && v != "" {
			return n, v
		}
	}
	return "", ""
}

// Variables of the AWS SDK's default chains (aws-sdk-go-v2 config.EnvConfig
// and feature/ec2/imds).
const (
	envAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	envSessionToken    = "AWS_SESSION_TOKEN"
	envRegion          = "AWS_REGION"
	envDefaultRegion   = "AWS_DEFAULT_REGION"
	// EnvIMDSEndpoint moves the instance metadata service (default
	// http://169.254.169.254); the sandbox points it at its IMDS double.
	EnvIMDSEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	envIMDSDisabled = "AWS_EC2_METADATA_DISABLED"
	defaultIMDS     = "http://169.254.169.254"
)

// maxMetadataSize bounds what is read from the metadata service: its answers
// are network data.
const maxMetadataSize = 64 << 10

// regionPattern is what the SDK's endpoint rules accept as a region: one DNS
// label, since it becomes part of the STS host name.
var regionPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// rolePattern is an IAM role name (IAM CreateRole: [\w+=,.@-]{1,64}); the
// name comes from the network and goes into a URL path and the logs.
var rolePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// imdsClient is the part of the EC2 instance metadata service (IMDSv2) the
// SDK's chains read. IMDSv1 is not modelled: the project's images require v2.
type imdsClient struct {
	base *url.URL
	http *http.Client
}

// newIMDS returns nil when AWS_EC2_METADATA_DISABLED is true (the SDK then
// skips the metadata service).
func newIMDS(env Env) (*imdsClient, error) {
	if _, v := env.get(envIMDSDisabled); strings.EqualFold(v, "true") {
		return nil, nil
	}
	raw := defaultIMDS
	if _, v := env.get(EnvIMDSEndpoint); v != "" {
		raw = v
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q is not an http(s) URL of the instance metadata service (for example http://169.254.169.254)", EnvIMDSEndpoint, raw)
	}
	return &imdsClient{base: u, http: &http.Client{Timeout: 5 * time.Second}}, nil
}

func (c *imdsClient) do(ctx context.Context, method, path, token string) (string, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return "", err
	}
	if token == "" {
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
	} else {
		req.Header.Set("X-aws-ec2-metadata-token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("instance metadata service at %s: %v", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("instance metadata service %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return string(body), nil
}

// get reads one metadata path with a fresh IMDSv2 session token.
func (c *imdsClient) get(ctx context.Context, path string) (string, error) {
	token, err := c.do(ctx, http.MethodPut, "/latest/api/token", "")
	if err != nil {
		return "", err
	}
	return c.do(ctx, http.MethodGet, path, strings.TrimSpace(token))
}

// Region mirrors the SDK's region chain as Teleport uses it
// (config.LoadDefaultConfig, then getEC2LocalRegion from the instance
// metadata service): AWS_REGION, AWS_DEFAULT_REGION, then
// /latest/meta-data/placement/region. ok is false when none answered.
func Region(ctx context.Context, env Env) (region string, ok bool, err error) {
	name, v := env.get(envRegion, envDefaultRegion)
	if v == "" {
		imds, err := newIMDS(env)
		if err != nil {
			return "", false, err
		}
		if imds == nil {
			return "", false, nil
		}
		if v, err = imds.get(ctx, "/latest/meta-data/placement/region"); err != nil {
			return "", false, nil
		}
		name, v = "the instance metadata service", strings.TrimSpace(v)
	}
	if !regionPattern.MatchString(v) {
		return "", false, fmt.Errorf("AWS region %q from %s is not a region name (for example eu-west-1)", v, name)
	}
	return v, true, nil
}

// ResolveCredentials mirrors the SDK's default credential chain as far as
// the double models it: the environment (AWS_ACCESS_KEY_ID with
// AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN), then the instance profile
// through the instance metadata service (IMDSv2). Shared credential files,
// web identity and container credentials are not modelled.
func ResolveCredentials(ctx context.Context, env Env) (Credentials, error) {
	_, id := env.get(envAccessKeyID, "AWS_ACCESS_KEY")
	_, secret := env.get(envSecretAccessKey, "AWS_SECRET_KEY")
	if id != "" && secret != "" {
		_, token := env.get(envSessionToken)
		return Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "environment"}, nil
	}
	imds, err := newIMDS(env)
	if err != nil {
		return Credentials{}, err
	}
	if imds == nil {
		return Credentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set and AWS_EC2_METADATA_DISABLED is true (the TEST DOUBLE reads no shared credentials file)")
	}
	roles, err := imds.get(ctx, "/latest/meta-data/iam/security-credentials/")
	if err != nil {
		return Credentials{}, fmt.Errorf("no AWS credentials in the environment, and no instance profile: %v", err)
	}
	role := strings.TrimSpace(strings.SplitN(roles, "\n", 2)[0])
	if role == "" {
		return Credentials{}, errors.New("no AWS credentials in the environment, and the instance has no instance profile (the metadata service lists no role)")
	}
	if !rolePattern.MatchString(role) {
		return Credentials{}, fmt.Errorf("the instance metadata service names instance profile role %q, which is not an IAM role name", role)
	}
	raw, err := imds.get(ctx, "/latest/meta-data/iam/security-credentials/"+url.PathEscape(role))
	if err != nil {
		return Credentials{}, fmt.Errorf("reading the credentials of instance profile role %q: %v", role, err)
	}
	var c struct {
		Code            string
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return Credentials{}, fmt.Errorf("the credentials of instance profile role %q are not JSON: %v", role, err)
	}
	if c.Code != "Success" || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("the instance metadata service has no usable credentials for role %q (Code %q)", role, c.Code)
	}
	return Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.Token,
		Source: "instance profile role " + role}, nil
}
