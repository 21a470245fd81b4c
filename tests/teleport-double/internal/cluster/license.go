package cluster

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// licenseExtensionID is the certificate extension that carries a Teleport
// license's payload (github.com/gravitational/license/constants.LicenseASN1ExtensionID).
var licenseExtensionID = asn1.ObjectIdentifier{2, 5, 42}

// CheckLicense is the Enterprise auth service's license check at start.
//
// mirrors e/tool/teleport/process.configureLicense with
// e/lib/licensefile.NewLicenseFile and github.com/gravitational/license.ParseLicensePEM:
// the file must be readable and hold a CERTIFICATE block and an "RSA PRIVATE
// KEY" block; the certificate must carry the license payload extension
// (OID 2.5.42); and isLicenseDeprecated refuses a license valid for four
// years or more, or issued before 2024-01-01.
//
// NOT modelled: the signature of the license by Gravitational (the double
// cannot know their key), its expiry grace period and its feature flags. Any
// well-formed PEM as described passes; NewTestLicense writes one.
func CheckLicense(path, dataDir string) error {
	refuse := func(cause error) error {
		return fmt.Errorf("auth server requires a valid license file to start, please set the correct license_file path under auth_service section in your teleport config or put the license into the default search location at %v (%v)",
			filepath.Join(dataDir, "license.pem"), cause)
	}
	if path == "" {
		return refuse(errors.New("missing license file path"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return refuse(fmt.Errorf("unable to read license file: %v", err))
	}
	var certDER []byte
	var haveKey bool
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			certDER = b.Bytes
		case "RSA PRIVATE KEY":
			haveKey = true
		}
	}
	if certDER == nil || !haveKey {
		return refuse(fmt.Errorf("unable to parse and validate license PEM %s: cert or key PEM data is missing", path))
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return refuse(fmt.Errorf("unable to parse and validate license PEM %s: %v", path, err))
	}
	var payload []byte
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(licenseExtensionID) {
			payload = ext.Value
		}
	}
	if payload == nil {
		return refuse(fmt.Errorf("unable to parse and validate license PEM %s: certificate does not contain extension with license payload", path))
	}
	if !json.Valid(payload) {
		return refuse(fmt.Errorf("unable to parse and validate license PEM %s: license payload is not JSON", path))
	}
	fourYears := time.Hour * ((24 * 365) + 1) * 4
	if cert.NotAfter.Sub(cert.NotBefore) >= fourYears || cert.NotBefore.Before(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		return errors.New("Error: Outdated License File. This Teleport Enterprise cluster is currently using an outdated license file: download the updated license file and set it as auth_service.license_file")
	}
	return nil
}

// NewTestLicense returns a license PEM that CheckLicense accepts: an RSA key
// and a certificate with a JSON payload in extension 2.5.42, valid for one
// year from now. It is not a Teleport license and says so in its payload.
func NewTestLicense() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(map[string]any{"account_id": "test-double", "note": "TEST DOUBLE license, not a Teleport license"})
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "teleport-test-double-license", Organization: []string{"gravitational.io"}},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(365 * 24 * time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: licenseExtensionID, Value: payload}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&buf, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return buf.Bytes(), nil
}
