package awsiam

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// ValidSTSEndpoints is lib/auth/join/iam.ValidSTSEndpoints of Teleport 17
// and 18.0: the static list of STS hosts an auth server accepts in the
// signed request. Teleport checks the list because the joining node chooses
// the URL the auth server sends the request to; anything else could answer
// with any identity.
var ValidSTSEndpoints = []string{
	"sts-fips.us-east-1.amazonaws.com",
	"sts-fips.us-east-2.amazonaws.com",
	"sts-fips.us-west-1.amazonaws.com",
	"sts-fips.us-west-2.amazonaws.com",
	"sts.af-south-1.amazonaws.com",
	"sts.amazonaws.com",
	"sts.ap-east-1.amazonaws.com",
	"sts.ap-northeast-1.amazonaws.com",
	"sts.ap-northeast-2.amazonaws.com",
	"sts.ap-northeast-3.amazonaws.com",
	"sts.ap-south-1.amazonaws.com",
	"sts.ap-south-2.amazonaws.com",
	"sts.ap-southeast-1.amazonaws.com",
	"sts.ap-southeast-2.amazonaws.com",
	"sts.ap-southeast-3.amazonaws.com",
	"sts.ap-southeast-4.amazonaws.com",
	"sts.ca-central-1.amazonaws.com",
	"sts.ca-west-1.amazonaws.com",
	"sts.cn-north-1.amazonaws.com.cn",
	"sts.cn-northwest-1.amazonaws.com.cn",
	"sts.eu-central-1.amazonaws.com",
	"sts.eu-central-2.amazonaws.com",
	"sts.eu-north-1.amazonaws.com",
	"sts.eu-south-1.amazonaws.com",
	"sts.eu-south-2.amazonaws.com",
	"sts.eu-west-1.amazonaws.com",
	"sts.eu-west-2.amazonaws.com",
	"sts.eu-west-3.amazonaws.com",
	"sts.il-central-1.amazonaws.com",
	"sts.me-central-1.amazonaws.com",
	"sts.me-south-1.amazonaws.com",
	"sts.sa-east-1.amazonaws.com",
	"sts.us-east-1.amazonaws.com",
	"sts.us-east-2.amazonaws.com",
	"sts.us-gov-east-1.amazonaws.com",
	"sts.us-gov-west-1.amazonaws.com",
	"sts.us-iso-east-1.c2s.ic.gov",
	"sts.us-iso-west-1.c2s.ic.gov",
	"sts.us-isob-east-1.sc2s.sgov.gov",
	"sts.us-west-1.amazonaws.com",
	"sts.us-west-2.amazonaws.com",
}

// GenerateChallenge mirrors lib/auth.generateIAMChallenge: 32 random bytes,
// unpadded standard base64.
func GenerateChallenge() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// ParseSTSRequest mirrors lib/auth.parseSTSRequest: the bytes are one HTTP
// request for "/", which will be sent with https to its Host.
func ParseSTSRequest(raw []byte) (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, err
	}
	if req.RequestURI != "/" {
		return nil, fmt.Errorf("unexpected sts identity request URI: %q", req.RequestURI)
	}
	req.RequestURI = ""
	req.URL = &url.URL{Scheme: "https", Host: req.Host}
	return req, nil
}

// validateSTSHost mirrors lib/auth.validateSTSHost (no FIPS mode).
func validateSTSHost(host string) error {
	if !slices.Contains(ValidSTSEndpoints, host) {
		return fmt.Errorf("IAM join request uses unknown STS host %q. "+
			"This could mean that the Teleport Node attempting to join the cluster is "+
			"running in a new AWS region which is unknown to this Teleport auth server. "+
			"Alternatively, if this URL looks suspicious, an attacker may be attempting to "+
			"join your Teleport cluster. "+
			"Following is the list of valid STS endpoints known to this auth server. "+
			"If a legitimate STS endpoint is not included, please file an issue at "+
			"https://github.com/gravitational/teleport. %v", host, ValidSTSEndpoints)
	}
	return nil
}

// ValidateSTSIdentityRequest mirrors lib/auth.validateSTSIdentityRequest, in
// its order: the Host is a known STS endpoint, the method POST, the challenge
// header is the one issued, the challenge header is signed, the body is
// exactly GetCallerIdentity. It returns the body, read from req.
func ValidateSTSIdentityRequest(req *http.Request, challenge string) ([]byte, error) {
	if err := validateSTSHost(req.Host); err != nil {
		return nil, err
	}
	if req.Method != http.MethodPost {
		return nil, fmt.Errorf("sts identity request method %q does not match expected method %q", req.RequestURI, http.MethodPost)
	}
	if req.Header.Get(ChallengeHeader) != challenge {
		return nil, fmt.Errorf("sts identity request does not include challenge header or it does not match")
	}
	authHeader := req.Header.Get("Authorization")
	sig, err := ParseSigV4(authHeader)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(sig.SignedHeaders, ChallengeHeader) {
		return nil, fmt.Errorf("sts identity request auth header %q does not include "+ChallengeHeader+" as a signed header", authHeader)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if string(body) != ExpectedSTSIdentityRequestBody {
		return nil, fmt.Errorf("sts request body %q does not equal expected %q", string(body), ExpectedSTSIdentityRequestBody)
	}
	return body, nil
}

// Identity is what sts:GetCallerIdentity answers.
type Identity struct {
	Account string `json:"Account" xml:"GetCallerIdentityResult>Account"`
	Arn     string `json:"Arn" xml:"GetCallerIdentityResult>Arn"`
}

// maxSTSResponse is teleport.MaxHTTPResponseSize.
const maxSTSResponse = 10 << 20

// EnvSTSEndpointOverride is the TEST DOUBLE's one exception to Teleport's IAM
// join: the sandbox's STS is moto on a plain-HTTP loopback or 198.18/15
// address, which Teleport could never reach. When set on the auth server it
// changes where the already allow-listed request is sent, and nothing else:
// the signed Host header, and so the allow-list check, stay as they are.
const EnvSTSEndpointOverride = "TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE"

// ParseSTSOverride checks a value of TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE:
// an http(s) URL of a host and port, nothing more.
func ParseSTSOverride(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s=%q: expected http://HOST:PORT or https://HOST:PORT of the STS the sandbox runs (moto), with no path", EnvSTSEndpointOverride, v)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, nil
}

// ExecuteSTSIdentityRequest mirrors lib/auth.executeSTSIdentityRequest: the
// validated request goes to https://<its Host>/ (or, with the sandbox
// override, to the override URL with the same Host header), and a 200 answer
// is parsed as the JSON that the Accept header asked for.
//
// The sandbox's moto answers GetCallerIdentity in XML whatever Accept says;
// Teleport would fail to parse that. The XML answer is accepted only from the
// override endpoint, as part of that one exception, and logged.
func ExecuteSTSIdentityRequest(ctx context.Context, client *http.Client, req *http.Request, body []byte, override *url.URL, logf func(string, ...any)) (*Identity, error) {
	target := &url.URL{Scheme: "https", Host: req.Host, Path: "/"}
	if override != nil {
		target = override
	}
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = req.Header.Clone()
	out.Host = req.Host
	resp, err := client.Do(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSTSResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("aws sts api returned status: %q body: %q", resp.Status, answer)
	}
	var id Identity
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if override != nil && (mediaType == "text/xml" || mediaType == "application/xml") {
		logf("WARN %s: the STS at %s answered in XML although JSON was asked for (moto does); parsing XML, which Teleport would refuse", EnvSTSEndpointOverride, override.Host)
		if err := xml.Unmarshal(answer, &id); err != nil {
			return nil, err
		}
	} else {
		var r struct {
			GetCallerIdentityResponse struct {
				GetCallerIdentityResult Identity
			}
		}
		if err := json.Unmarshal(answer, &r); err != nil {
			return nil, err
		}
		id = r.GetCallerIdentityResponse.GetCallerIdentityResult
	}
	if id.Account == "" {
		return nil, fmt.Errorf("received empty AWS account ID from sts API")
	}
	if id.Arn == "" {
		return nil, fmt.Errorf("received empty AWS identity ARN from sts API")
	}
	return &id, nil
}

// AllowRule is one entry of a provision token's spec.allow for the iam
// method.
type AllowRule struct {
	AWSAccount string
	AWSARN     string
}

// GlobMatch mirrors lib/auth.globMatch (joinutils.GlobMatch): '*' is any
// run of characters, '?' any one character, everything else literal, and
// the whole string must match.
func GlobMatch(pattern, s string) (bool, error) {
	p := regexp.QuoteMeta(pattern)
	p = strings.ReplaceAll(p, `\*`, ".*")
	p = strings.ReplaceAll(p, `\?`, ".")
	return regexp.MatchString("^"+p+"$", s)
}

// CheckIAMAllowRules mirrors lib/auth.checkIAMAllowRules: a rule matches
// when its aws_account (if set) equals the account and its aws_arn (if set)
// matches the ARN; the first matching rule admits the identity.
func CheckIAMAllowRules(id *Identity, token string, rules []AllowRule) error {
	for _, rule := range rules {
		if rule.AWSAccount != "" && rule.AWSAccount != id.Account {
			continue
		}
		if rule.AWSARN != "" {
			ok, err := GlobMatch(rule.AWSARN, id.Arn)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		return nil
	}
	return fmt.Errorf("instance %v did not match any allow rules in token %v", id.Arn, token)
}
