package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"teleportha.ops/teleport-double/internal/cluster"
	"teleportha.ops/teleport-double/internal/config"
)

// selfSigned makes the web listener's certificate when no https_keypairs are
// configured (Teleport then also generates one).
func selfSigned(names []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"Teleport (TEST DOUBLE)"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	cluster.AddSANs(tmpl, names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// loadKeyPairs mirrors lib/service.(*CertReloader).loadCertificates: every
// pair loads (the key must match its certificate) or none is used.
func loadKeyPairs(pairs []config.KeyPairPath) ([]tls.Certificate, error) {
	out := make([]tls.Certificate, 0, len(pairs))
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.Certificate, p.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %v and key %v failed to load: %v (check that the key is the certificate's and both files are readable by the teleport user)", p.Certificate, p.PrivateKey, err)
		}
		if c.Leaf == nil && len(c.Certificate) > 0 {
			c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
		}
		out = append(out, c)
	}
	return out, nil
}

// pickCert chooses the keypair whose names match the SNI, else the first one,
// as Teleport does for its web listener.
func pickCert(certs []tls.Certificate, hello *tls.ClientHelloInfo) *tls.Certificate {
	for i := range certs {
		if hello.ServerName != "" && certs[i].Leaf != nil && certs[i].Leaf.VerifyHostname(hello.ServerName) == nil {
			return &certs[i]
		}
	}
	return &certs[0]
}
