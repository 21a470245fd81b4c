package awsiam

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// ExpectedSTSIdentityRequestBody is the only body the auth accepts
	// (lib/auth/join_iam.go expectedSTSIdentityRequestBody).
	ExpectedSTSIdentityRequestBody = "Action=GetCallerIdentity&Version=2011-06-15"
	// ChallengeHeader carries the auth server's challenge; SigV4 signed
	// header names are lower case (lib/auth/join_iam.go challengeHeaderKey).
	ChallengeHeader = "x-teleport-challenge"
)

// STSHost is the regional STS endpoint the SDK's endpoint rules resolve for a
// region (sts.NewDefaultEndpointResolverV2, no FIPS): the partition's DNS
// suffix decides the end of the name.
func STSHost(region string) string {
	suffix := "amazonaws.com"
	switch {
	case strings.HasPrefix(region, "cn-"):
		suffix = "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		suffix = "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-iso-"):
		suffix = "c2s.ic.gov"
	}
	if region == "aws-global" {
		return "sts." + suffix
	}
	return "sts." + region + "." + suffix
}

// SignedIdentityRequest builds the sts:GetCallerIdentity request for host,
// with the challenge header and Accept: application/json, signs it for region
// and returns it as written on the wire (http.Request.Write), which is what
// the joining node sends to the auth server.
func SignedIdentityRequest(host, region, challenge string, creds Credentials, now time.Time) ([]byte, error) {
	body := []byte(ExpectedSTSIdentityRequestBody)
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(ChallengeHeader, challenge)
	req.Header.Set("User-Agent", "teleport-test-double")
	Sign(req, body, creds, region, "sts", now)
	var out bytes.Buffer
	if err := req.Write(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// CreateSignedSTSIdentityRequest mirrors
// lib/auth/join/iam.CreateSignedSTSIdentityRequest (no FIPS): the region
// comes from the environment or the instance metadata service, else
// us-east-1 with Teleport's message; the credentials from the SDK's chain;
// the endpoint is the region's STS endpoint.
func CreateSignedSTSIdentityRequest(ctx context.Context, env Env, challenge string, logf func(string, ...any)) ([]byte, error) {
	region, ok, err := Region(ctx, env)
	if err != nil {
		return nil, err
	}
	if !ok {
		logf("Failed to resolve local AWS region from environment or IMDS. Using us-east-1 by default. This will fail in non-default AWS partitions. Consider setting AWS_REGION or enabling IMDSv2.")
		region = "us-east-1"
	}
	creds, err := ResolveCredentials(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("building signed sts:GetCallerIdentity request: %v", err)
	}
	host := STSHost(region)
	logf("Signing sts:GetCallerIdentity for %s with AWS credentials from %s. region=%s", host, creds.Source, strconv.Quote(region))
	return SignedIdentityRequest(host, region, challenge, creds, time.Now())
}
