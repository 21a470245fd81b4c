// Package awsfake holds test fakes of the two AWS endpoints the IAM join
// talks to: STS (sts:GetCallerIdentity, checking SigV4 as STS does) and the
// EC2 instance metadata service (IMDSv2: region and instance profile
// credentials). Both listen on 127.0.0.1 only. Tests use them; the double
// never does.
package awsfake

import (
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"teleportha.ops/teleport-double/internal/awsiam"
)

// Key is one access key the fake STS knows.
type Key struct {
	Secret       string
	SessionToken string // "" for a long-term key
	Account      string
	Arn          string
	// Expired makes STS answer 403 ExpiredToken, as it does for temporary
	// credentials past their expiry.
	Expired bool
}

// STS is a fake of the STS query API, GetCallerIdentity only.
type STS struct {
	*httptest.Server
	mu    sync.Mutex
	keys  map[string]Key
	hosts []string
}

// NewSTS starts a fake STS on 127.0.0.1; Close it when done.
func NewSTS() *STS {
	s := &STS{keys: map[string]Key{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// AddKey makes an access key known.
func (s *STS) AddKey(id string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = k
}

// Hosts are the Host headers of the requests received, in order.
func (s *STS) Hosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hosts...)
}

type stsError struct {
	status        int
	code, message string
}

// The messages are STS's own.
var (
	errSignature = stsError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errInvalidID = stsError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
	errExpired   = stsError{http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired"}
)

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (s *STS) fail(w http.ResponseWriter, r *http.Request, e stsError) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]any{"Error": map[string]string{"Code": e.code, "Message": e.message, "Type": "Sender"}, "RequestId": "fake"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>", e.code, xmlEscape(e.message))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// serve checks a request as STS does: the SigV4 signature over the signed
// headers with the key's secret, the date within 15 minutes, the session
// token, then answers the key's identity.
func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hosts = append(s.hosts, r.Host)
	s.mu.Unlock()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method != http.MethodPost || string(body) != awsiam.ExpectedSTSIdentityRequestBody {
		s.fail(w, r, stsError{http.StatusBadRequest, "InvalidAction", "Could not find operation for this request"})
		return
	}
	sig, err := awsiam.ParseSigV4(r.Header.Get("Authorization"))
	if err != nil || sig.Service != "sts" {
		s.fail(w, r, stsError{http.StatusForbidden, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders'"})
		return
	}
	s.mu.Lock()
	key, ok := s.keys[sig.KeyID]
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, errInvalidID)
		return
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(awsiam.AmzDateFormat, amzDate)
	if err != nil || !strings.HasPrefix(amzDate, sig.Date) {
		s.fail(w, r, errSignature)
		return
	}
	want := awsiam.Signature(r, body, sig.SignedHeaders, key.Secret, amzDate, sig.Region, "sts")
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig.Signature)) != 1 {
		s.fail(w, r, errSignature)
		return
	}
	if skew := time.Since(at); skew > 15*time.Minute || skew < -15*time.Minute {
		s.fail(w, r, stsError{http.StatusForbidden, "SignatureDoesNotMatch", "Signature expired: " + amzDate + " is now earlier than the allowed window"})
		return
	}
	if r.Header.Get("X-Amz-Security-Token") != key.SessionToken {
		s.fail(w, r, errInvalidID)
		return
	}
	if key.Expired {
		s.fail(w, r, errExpired)
		return
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"GetCallerIdentityResponse": map[string]any{
			"GetCallerIdentityResult": map[string]string{"Account": key.Account, "Arn": key.Arn, "UserId": "AROAFAKE:" + sig.KeyID},
			"ResponseMetadata":        map[string]string{"RequestId": "fake"}}})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AROAFAKE</UserId><Account>%s</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
		xmlEscape(key.Arn), xmlEscape(key.Account))
}

// IMDS is a fake of the EC2 instance metadata service, IMDSv2 only: every
// read needs a session token from PUT /latest/api/token.
type IMDS struct {
	*httptest.Server
	Region string
	Role   string
	Key    awsiam.Credentials
	token  string
}

// NewIMDS starts a fake metadata service on 127.0.0.1 for an instance in
// region whose instance profile role is role with the credentials key.
func NewIMDS(region, role string, key awsiam.Credentials) *IMDS {
	m := &IMDS{Region: region, Role: role, Key: key, token: "imds-session-token"}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	return m
}

func (m *IMDS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, m.token)
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != m.token {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/latest/meta-data/placement/region":
		fmt.Fprint(w, m.Region)
	case "/latest/meta-data/iam/security-credentials/":
		fmt.Fprint(w, m.Role)
	case "/latest/meta-data/iam/security-credentials/" + m.Role:
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "Type": "AWS-HMAC",
			"AccessKeyId": m.Key.AccessKeyID, "SecretAccessKey": m.Key.SecretAccessKey, "Token": m.Key.SessionToken,
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	default:
		http.NotFound(w, r)
	}
}
