"""A throwaway certificate authority for the sandbox and the suites: the
"bring your own certificate" input of the TLS delivery path (an internal CA and
a proxy pair), so no hand-placed file is needed. Test-only: keys live in the
state directory and die with it."""
import datetime
import ipaddress
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "teleport-ha sandbox CA (TEST ONLY)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _write(path, text, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def issue(directory, names, days=90):
    """Writes ca.crt, tls.crt (leaf then CA) and tls.key into directory; returns their paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("sandbox root")).issuer_name(_name("sandbox root"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days * 4))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(n)) if n.replace(".", "").isdigit() else x509.DNSName(n) for n in names]
    leaf = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = {n: os.path.join(directory, n) for n in ("ca.crt", "tls.crt", "tls.key")}
    _write(paths["ca.crt"], ca.public_bytes(pem).decode(), 0o644)
    _write(paths["tls.crt"], leaf.public_bytes(pem).decode() + ca.public_bytes(pem).decode(), 0o644)
    _write(paths["tls.key"], _pem_key(key), 0o600)
    return paths


def test_license(path):
    """A stand-in Enterprise license for the Teleport TEST DOUBLE (a real one comes
    from the Teleport account dashboard): what the double checks of license.pem, an
    RSA key and a certificate carrying the license payload in extension 2.5.42."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = json.dumps({"account_id": "teleport-ha-sandbox", "test_double": True}).encode()
    cert = (x509.CertificateBuilder().subject_name(_name("teleport-ha sandbox license"))
            .issuer_name(_name("teleport-ha sandbox license")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("2.5.42"), payload), critical=False)
            .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    _write(path, cert.public_bytes(pem).decode() + key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode(), 0o600)
    return path
