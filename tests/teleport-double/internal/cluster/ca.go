// Package cluster is what the auth doubles of one cluster share: the host CA,
// CA pins, host certificates, join tokens, the license check and the version
// rules. Real Teleport shares its CA through the backend; the doubles have no
// shared backend, so the CA key is DERIVED FROM THE CLUSTER NAME.
//
// TEST ONLY: anyone who knows a cluster's name can compute its double's CA
// private key. That is the point (every auth double of a cluster presents the
// same CA, and `tctl status` prints the same pin) and the reason the double
// must never face anything but test traffic.
package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// APIDomain is the name every auth server certificate carries and every
// client asks for (api/constants.APIDomain), whatever address it dialled:
// that is what lets proxies reach several auth servers behind one NLB.
const APIDomain = "teleport.cluster.local"

// CA is a cluster's host certificate authority.
type CA struct {
	ClusterName string
	Key         *ecdsa.PrivateKey
	Cert        *x509.Certificate
	CertPEM     []byte
}

// DeriveHostCA returns the host CA of the cluster. The key is a P-256 scalar
// hashed from the cluster name; the certificate is self-signed with fixed
// validity so that its SubjectPublicKeyInfo, and so the CA pin, is the same on
// every auth double of the cluster.
func DeriveHostCA(clusterName string) (*CA, error) {
	if clusterName == "" {
		return nil, errors.New("cluster name is empty")
	}
	var key *ecdsa.PrivateKey
	for i := uint32(0); key == nil; i++ {
		h := sha256.New()
		h.Write([]byte("teleport-test-double host CA v1\x00"))
		h.Write([]byte(clusterName))
		_ = binary.Write(h, binary.BigEndian, i)
		// A hash at or above the curve order (probability ~2^-32) is rejected
		// by ParseRawPrivateKey; the counter then picks the next candidate.
		if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), h.Sum(nil)); err == nil {
			key = k
		}
	}
	sum := sha256.Sum256([]byte("teleport-test-double host CA serial\x00" + clusterName))
	serial := new(big.Int).SetBytes(sum[:16])
	// Teleport's host CA names the cluster in both CN and O (lib/tlsca).
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: clusterName, Organization: []string{clusterName}, OrganizationalUnit: []string{"Teleport TEST DOUBLE host CA"}},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{ClusterName: clusterName, Key: key, Cert: cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pin is the CA pin of the certificate.
// mirrors lib/utils.CalculateSPKI: "sha256:" + hex(sha256(SubjectPublicKeyInfo)).
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// errPinMismatch is lib/utils.errorMessage, word for word.
var errPinMismatch = errors.New("cluster pin does not match any provided certificate authority pin. " +
	"This could have occurred if the Certificate Authority (CA) for the cluster " +
	"was rotated, invalidating the old pin. This could also occur if a new HSM was " +
	"added. Run \"tctl status\" to compare the pin used to join the cluster to the " +
	"actual pin(s) for the cluster.")

// CheckPins mirrors lib/utils.CheckSPKI: every pin must be "sha256:<hex>", and
// every CA certificate must match one of the pins.
func CheckPins(pins []string, certs []*x509.Certificate) error {
	for _, pin := range pins {
		parts := strings.Split(pin, ":")
		if len(parts) != 2 {
			return errors.New("invalid format for certificate pin, expected algorithm:pin")
		}
		if parts[0] != "sha256" {
			return errors.New("sha256 only supported hashing algorithm for certificate pin")
		}
	}
outer:
	for _, c := range certs {
		for _, pin := range pins {
			if Pin(c) == pin {
				continue outer
			}
		}
		return errPinMismatch
	}
	return nil
}

// Identity is a host certificate the CA issued for one system role.
type Identity struct {
	Role    string
	HostID  string
	CertPEM []byte
	KeyPEM  []byte
}

// TLS returns the identity as a certificate for TLS.
func (id *Identity) TLS() (tls.Certificate, error) {
	return tls.X509KeyPair(id.CertPEM, id.KeyPEM)
}

// Issue signs a host certificate for role. The system role goes into the
// subject's Organization as Teleport's tlsca.Identity.Groups does, so a peer
// can tell a proxy from a node.
func (ca *CA) Issue(role, hostID, nodeName string, dnsNames []string, pub any, ttl time.Duration) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hostID + "." + ca.ClusterName, Organization: []string{role}, OrganizationalUnit: []string{nodeName}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	AddSANs(tmpl, append([]string{APIDomain, "*." + APIDomain, nodeName, hostID + "." + ca.ClusterName}, dnsNames...))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// AddSANs puts each distinct non-empty name in the certificate as an IP
// address or a DNS name.
func AddSANs(tmpl *x509.Certificate, names []string) {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
}

// NewIdentity creates a key and has the CA sign it.
func (ca *CA) NewIdentity(role, hostID, nodeName string, dnsNames []string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.Issue(role, hostID, nodeName, dnsNames, &key.PublicKey, 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Identity{Role: role, HostID: hostID, CertPEM: certPEM,
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}, nil
}

// RoleOf reads the system role from a certificate the CA issued.
func RoleOf(cert *x509.Certificate) string {
	if len(cert.Subject.Organization) == 0 {
		return ""
	}
	return cert.Subject.Organization[0]
}

// ParseCertsPEM parses every CERTIFICATE block.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate found")
	}
	return out, nil
}
