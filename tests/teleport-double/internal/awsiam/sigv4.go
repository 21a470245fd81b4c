// Package awsiam is the double's model of Teleport's IAM join method, both
// sides of it:
//   - the joining side, lib/auth/join/iam.CreateSignedSTSIdentityRequest: an
//     sts:GetCallerIdentity request for the regional STS endpoint, carrying
//     the auth server's challenge in a signed header, signed with SigV4 using
//     the credentials and region of the AWS SDK's default chains
//     (environment, then the EC2 instance metadata service);
//   - the auth side, lib/auth/join_iam.go: validateSTSIdentityRequest,
//     executeSTSIdentityRequest and checkIAMAllowRules.
//
// SigV4 is written from the AWS documentation ("Create a signed AWS API
// request") with the standard library; its tests check it against vectors
// that botocore computed.
package awsiam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	// AmzDateFormat is the format of X-Amz-Date.
	AmzDateFormat = "20060102T150405Z"
)

// Credentials are AWS credentials. Source says where they came from, for
// logs; the values themselves are never logged.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Source          string
}

// Headers the AWS SDK for Go v2 leaves unsigned (aws/signer/v4 IgnoredHeaders).
var unsignedHeaders = map[string]bool{"authorization": true, "user-agent": true, "x-amzn-trace-id": true, "expect": true, "transfer-encoding": true}

// Sign signs req (whose body is body) for region and service at now: it sets
// X-Amz-Date, X-Amz-Security-Token when the credentials have a session token,
// and Authorization. Every header already set is signed, with host and
// content-length, as the SDK's signer does.
func Sign(req *http.Request, body []byte, creds Credentials, region, service string, now time.Time) {
	amzDate := now.UTC().Format(AmzDateFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	signed := []string{"host"}
	if req.ContentLength > 0 {
		signed = append(signed, "content-length")
	}
	for k := range req.Header {
		if lk := strings.ToLower(k); !unsignedHeaders[lk] && lk != "host" && lk != "content-length" {
			signed = append(signed, lk)
		}
	}
	sort.Strings(signed)
	sig := Signature(req, body, signed, creds.SecretAccessKey, amzDate, region, service)
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		sigV4Algorithm, creds.AccessKeyID, scope(amzDate, region, service), strings.Join(signed, ";"), sig))
}

func scope(amzDate, region, service string) string {
	return amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
}

// Signature is the SigV4 signature of req over the headers named in signed
// (lower case, sorted), as a signer computes it and as AWS recomputes it to
// check a request.
func Signature(req *http.Request, body []byte, signed []string, secret, amzDate, region, service string) string {
	bodyHash := sha256.Sum256(body)
	canonical := strings.Join([]string{
		req.Method,
		canonicalURI(req.URL),
		canonicalQuery(req.URL),
		canonicalHeaders(req, signed),
		strings.Join(signed, ";"),
		hex.EncodeToString(bodyHash[:]),
	}, "\n")
	canonicalHash := sha256.Sum256([]byte(canonical))
	stringToSign := strings.Join([]string{sigV4Algorithm, amzDate, scope(amzDate, region, service), hex.EncodeToString(canonicalHash[:])}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), amzDate[:8])
	for _, part := range []string{region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func canonicalURI(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// uriEncode is the encoding SigV4 asks for: everything but the unreserved
// characters of RFC 3986, spaces as %20.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(u *url.URL) string {
	q := u.Query()
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func canonicalHeaders(req *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var value string
		switch name {
		case "host":
			value = req.Host
			if value == "" {
				value = req.URL.Host
			}
		case "content-length":
			value = strconv.FormatInt(req.ContentLength, 10)
		default:
			values := req.Header.Values(name)
			for i, v := range values {
				values[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(values, ",")
		}
		b.WriteString(name + ":" + value + "\n")
	}
	return b.String()
}

// SigV4 is the parsed Authorization header of a SigV4-signed request.
type SigV4 struct {
	KeyID         string
	Date          string
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// ParseSigV4 mirrors lib/utils/aws.ParseSigV4: space-separated sections,
// Credential of 5 parts and a Signature are required.
func ParseSigV4(header string) (*SigV4, error) {
	if header == "" {
		return nil, fmt.Errorf("empty AWS SigV4 header")
	}
	m := map[string]string{}
	for _, section := range strings.Split(header, " ") {
		kv := strings.Split(section, "=")
		if len(kv) != 2 {
			continue
		}
		m[kv[0]] = strings.TrimSuffix(kv[1], ",")
	}
	parts := strings.Split(m["Credential"], "/")
	if len(parts) != 5 {
		return nil, fmt.Errorf("invalid size of %q section", "Credential")
	}
	if m["Signature"] == "" {
		return nil, fmt.Errorf("invalid signature")
	}
	var signed []string
	if v := m["SignedHeaders"]; v != "" {
		signed = strings.Split(v, ";")
	}
	return &SigV4{KeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3], SignedHeaders: signed, Signature: m["Signature"]}, nil
}
