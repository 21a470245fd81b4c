package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"teleportha.ops/teleport-double/internal/awsiam"
)

// Teleport's IAM join is one gRPC stream (RegisterUsingIAMMethod): the auth
// server sends a challenge, the node answers on the same stream with a
// signed sts:GetCallerIdentity request that carries it. The doubles use two
// HTTP requests on one TLS connection instead, and the auth server keeps the
// challenge for that connection only.
const (
	pathIAMChallenge = "/v1/double/register/iam/challenge"
	pathRegisterIAM  = "/v1/double/register/iam"
)

type iamChallengeResponse struct {
	Challenge string `json:"challenge"`
}

type iamRegisterRequest struct {
	Register registerRequest `json:"register"`
	// STSIdentityRequest is the signed request as written on the wire
	// (proto.RegisterUsingIAMMethodRequest.StsIdentityRequest).
	STSIdentityRequest []byte `json:"sts_identity_request"`
}

// configureSTS reads the sandbox's STS override (the double's one exception,
// see awsiam.EnvSTSEndpointOverride) and says loudly that it is in force.
func (p *Process) configureSTS() error {
	p.stsClient = &http.Client{Timeout: 10 * time.Second}
	v, ok := p.opts.LookupEnv(awsiam.EnvSTSEndpointOverride)
	if !ok || v == "" {
		return nil
	}
	u, err := awsiam.ParseSTSOverride(v)
	if err != nil {
		return err
	}
	p.stsOverride = u
	p.logf("WARN %s is set: IAM joins send the signed sts:GetCallerIdentity request to %s instead of https://<its signed Host>/. "+
		"This is the sandbox exception of the TEST DOUBLE (Teleport has no such setting); the signed Host is still checked against Teleport's STS endpoint list.",
		awsiam.EnvSTSEndpointOverride, u.Redacted())
	return nil
}

func (p *Process) handleIAMChallenge(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		replyError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	challenge, err := awsiam.GenerateChallenge()
	if err != nil {
		replyError(w, http.StatusInternalServerError, "generating IAM challenge: %v", err)
		return
	}
	p.iamMu.Lock()
	p.iamChallenges[r.RemoteAddr] = challenge
	p.iamMu.Unlock()
	writeJSON(w, http.StatusOK, iamChallengeResponse{Challenge: challenge})
}

// takeIAMChallenge returns the challenge issued on a connection, once.
func (p *Process) takeIAMChallenge(remoteAddr string) string {
	p.iamMu.Lock()
	defer p.iamMu.Unlock()
	c := p.iamChallenges[remoteAddr]
	delete(p.iamChallenges, remoteAddr)
	return c
}

// handleRegisterIAM mirrors lib/auth.(*Server).RegisterUsingIAMMethodWithOpts,
// with its error wrapping: the request's own checks, the common token checks,
// then checkIAMRequest, then the certificate.
func (p *Process) handleRegisterIAM(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		replyError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	challenge := p.takeIAMChallenge(r.RemoteAddr)
	var req iamRegisterRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, "bad register request: %v", err)
		return
	}
	if challenge == "" {
		replyError(w, http.StatusBadRequest, "no IAM join challenge was issued on this connection: POST %s first, on the same connection (the TEST DOUBLE's stand-in for the RegisterUsingIAMMethod stream)", pathIAMChallenge)
		return
	}
	arn, err := p.checkIAMJoin(r, challenge, req)
	if err != nil {
		p.logf("WARN Failure to join cluster occurred. role=%s node_name=%q join_method=iam error=%v", req.Register.Role, req.Register.NodeName, err)
		replyError(w, http.StatusForbidden, "%v", err)
		return
	}
	p.issueHostCert(w, req.Register, fmt.Sprintf(" join_method=iam aws_arn=%q", arn))
}

func (p *Process) checkIAMJoin(r *http.Request, challenge string, req iamRegisterRequest) (string, error) {
	if len(req.STSIdentityRequest) == 0 {
		return "", errors.New("validating request parameters: missing parameter StsIdentityRequest")
	}
	tok := p.validateToken(req.Register.Token)
	if err := checkTokenJoinRequestCommon(tok, req.Register); err != nil {
		return "", fmt.Errorf("completing common token checks: %w", err)
	}
	arn, err := p.checkIAMRequest(r, challenge, tok, req.STSIdentityRequest)
	if err != nil {
		return "", fmt.Errorf("checking iam request: %w", err)
	}
	return arn, nil
}

// checkIAMRequest mirrors lib/auth.(*Server).checkIAMRequest.
func (p *Process) checkIAMRequest(r *http.Request, challenge string, tok *joinToken, raw []byte) (string, error) {
	if tok.method != "iam" {
		return "", errors.New("this token does not support the IAM join method")
	}
	stsReq, err := awsiam.ParseSTSRequest(raw)
	if err != nil {
		return "", fmt.Errorf("parsing STS request: %w", err)
	}
	body, err := awsiam.ValidateSTSIdentityRequest(stsReq, challenge)
	if err != nil {
		// Teleport always warns here: a node in an unknown region, or an attacker.
		p.logf("WARN Detected an invalid sts:GetCallerIdentity used by a client attempting to use the IAM join method error=%q", err)
		return "", fmt.Errorf("validating STS request: %w", err)
	}
	if p.stsOverride != nil {
		p.logf("Sending the sts:GetCallerIdentity request for %s to %s (%s).", stsReq.Host, p.stsOverride.Redacted(), awsiam.EnvSTSEndpointOverride)
	}
	id, err := awsiam.ExecuteSTSIdentityRequest(r.Context(), p.stsClient, stsReq, body, p.stsOverride, p.logf)
	if err != nil {
		return "", fmt.Errorf("executing STS request: %w", err)
	}
	rules := make([]awsiam.AllowRule, 0, len(tok.allow))
	for _, a := range tok.allow {
		rules = append(rules, awsiam.AllowRule{AWSAccount: a.AWSAccount, AWSARN: a.AWSARN})
	}
	if err := awsiam.CheckIAMAllowRules(id, tok.name, rules); err != nil {
		return "", fmt.Errorf("checking allow rules: %w", err)
	}
	return id.Arn, nil
}

// registerUsingIAMMethod mirrors lib/auth/join.registerUsingIAMMethod: ask
// the auth server for a challenge, sign an sts:GetCallerIdentity request
// that carries it with this host's AWS credentials, and send it back on the
// same connection.
func (p *Process) registerUsingIAMMethod(role string, tc *tls.Config, req registerRequest) (*registerResponse, error) {
	p.logf("Attempting to register with IAM method using region STS endpoint. role=%s", role)
	s, err := p.client(role, tc).stream(p.ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var ch iamChallengeResponse
	if err := s.call(http.MethodPost, pathIAMChallenge, struct{}{}, &ch); err != nil {
		return nil, err
	}
	signed, err := awsiam.CreateSignedSTSIdentityRequest(p.ctx, awsiam.Env(p.opts.LookupEnv), ch.Challenge, p.logf)
	if err != nil {
		return nil, err
	}
	var resp registerResponse
	if err := s.call(http.MethodPost, pathRegisterIAM, iamRegisterRequest{Register: req, STSIdentityRequest: signed}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
