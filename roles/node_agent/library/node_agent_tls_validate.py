#!/usr/bin/python
"""The node-agent's pair validator, in Python, for the controller (or an AWX execution environment).

A port of node-agent/src/main/java/ops/teleportha/agent/tls/PairValidator.java and the checks of
`node-agent validate` (ValidateCommand, PemCodec, NameMatcher, Curves), so that a pair is refused on the
controller exactly as the agents would refuse it, without Java or a built jar. The same problems are
reported, with the agent's reason labels, in the agent's order. tests/ansible/test_tls_validator_parity.py
runs this module and the jar over one corpus of good and bad pairs and asserts identical verdicts.

Nothing is written to disk: the key arrives as a module argument (no_log) and stays in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
import re
from datetime import datetime, timedelta, timezone

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import ExtensionOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False

DOCUMENTATION = r"""
module: node_agent_tls_validate
short_description: Validate a proxy's HTTPS key pair exactly as the node-agent would
description:
  - The node-agent's PairValidator (Java) ported to Python with C(cryptography), so that a pair handed to
    a play, or issued by tls.yml, is checked on the controller without Java.
  - Never changes anything; reports the agent's problems (reason labels and details) and the leaf's facts.
options:
  cert_pem:
    description: The certificate chain, leaf first (PEM). Empty means no certificate.
    type: str
    default: ""
  key_pem:
    description: The private key (PEM). Empty means no key.
    type: str
    default: ""
  ca_pem:
    description: The trust anchors (PEM). When empty, I(trust_bundle) is read instead.
    type: str
    default: ""
  trust_bundle:
    description: A CA bundle file on the machine the module runs on, used when I(ca_pem) is empty.
    type: path
    default: /etc/ssl/certs/ca-certificates.crt
  names:
    description: The names the certificate must cover (the agent's tls.required_names).
    type: list
    elements: str
    required: true
  min_validity:
    description: How long the certificate must still be valid, a Go duration (the agent's tls.min_validity).
    type: str
    default: 168h
author: teleport-ha-aws
"""

RETURN = r"""
valid:
  description: Whether the agents would accept the pair.
  type: bool
  returned: always
fingerprint_sha256:
  description: SHA-256 of the leaf's DER, lower-case hex; null when the certificate does not parse.
  type: str
  returned: always
not_before:
  description: The leaf's notBefore (ISO 8601, UTC).
  type: str
  returned: always
not_after:
  description: The leaf's notAfter (ISO 8601, UTC).
  type: str
  returned: always
names:
  description: The leaf's DNS then IP subject alternative names.
  type: list
  returned: always
problems:
  description: Every problem, first to fix first, each with the agent's reason label and a detail.
  type: list
  returned: always
"""

# ConfigLoader.DEFAULT_MAX_FILE_BYTES
MAX_BYTES = 1024 * 1024
MIN_RSA_BITS = 2048
SUPPORTED_CURVES = {"1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521"}
SUPPORTED_NAMES = "P-256, P-384 and P-521"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
ANY_EKU = "2.5.29.37.0"
EKU_NAMES = {SERVER_AUTH: "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth", "1.3.6.1.5.5.7.3.3": "codeSigning",
             "1.3.6.1.5.5.7.3.4": "emailProtection", "1.3.6.1.5.5.7.3.8": "timeStamping",
             "1.3.6.1.5.5.7.3.9": "OCSPSigning", ANY_EKU: "anyExtendedKeyUsage"}
KEY_USAGE_BITS = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                  "key_agreement", "key_cert_sign", "crl_sign"]
KEY_USAGE_NAMES = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
                   "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"]


class Rejected(Exception):
    """RejectedCandidate: a reason label (RejectReason.label()) and a detail."""

    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- Go durations (config-support GoDuration.parse) ---------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_UNITS_HELP = "use a number with a unit (ns, us, ms, s, m, h), for example 500ms, 30s, 5m or 168h"


def go_duration_nanos(text):
    """Nanoseconds of a Go duration string; ValueError with GoDuration's message."""
    if text is None or not text.strip():
        raise ValueError("must be a duration; " + _UNITS_HELP)
    s = text.strip()
    pos, negative = 0, False
    if s[0] in "+-":
        negative, pos = s[0] == "-", 1
    if s[pos:] == "0":
        return 0
    if pos == len(s):
        raise ValueError(f"'{s}' is not a duration; {_UNITS_HELP}")
    from decimal import Decimal
    total = Decimal(0)
    while pos < len(s):
        start = pos
        while pos < len(s) and ((s[pos].isdigit() and ord(s[pos]) < 128) or s[pos] == "."):
            pos += 1
        number = s[start:pos]
        if not number or number == "." or number.count(".") > 1:
            raise ValueError(f"'{s}' is not a duration; {_UNITS_HELP}")
        unit_start = pos
        while pos < len(s) and not ((s[pos].isdigit() and ord(s[pos]) < 128) or s[pos] == "."):
            pos += 1
        unit = s[unit_start:pos]
        if not unit:
            raise ValueError(f"'{s}' is not a duration (missing unit); {_UNITS_HELP}")
        if unit not in _UNITS:
            raise ValueError(f"'{s}' is not a duration (unknown unit '{unit}'); {_UNITS_HELP}")
        digits = "0" + number if number.startswith(".") else number + "0" if number.endswith(".") else number
        total += Decimal(digits) * _UNITS[unit]
    whole = int(total)
    if whole > 2**63 - 1:
        raise ValueError(f"'{s}' is out of range; the longest duration is about 2562047h")
    return -whole if negative else whole


def name_problem(name):
    """ConfigLoader.nameProblem: why a required name is not one, or None."""
    n = name[2:] if name.startswith("*.") else name
    if not n or "*" in n:
        return "is not a DNS name (a wildcard may only be the whole leftmost label, '*.example.com')"
    if name.startswith("*.") and "." not in n:
        return "is a wildcard over a top-level domain, which no certificate may cover"
    for label in n.split("."):
        if not label or not re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?", label):
            return "is not a DNS name"
    return None


# --- PEM, as BouncyCastle's PEMParser reads it (PemCodec) ---------------------------------------------

_BEGIN = re.compile(r"^-----BEGIN ([^-]*)-----\s*$")


def _pem_blocks(data):
    """(type, headers, der) of every PEM block; ValueError where PEMParser throws."""
    text = data.decode("ascii", errors="replace")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _BEGIN.match(lines[i].strip())
        i += 1
        if not m:
            continue
        kind = m.group(1)
        end = "-----END " + kind
        headers, body, closed = {}, [], False
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if line.startswith(end):
                closed = True
                break
            if ":" in line and not body:
                key, _, value = line.partition(":")
                headers[key.strip()] = value.strip()
                continue
            if line:
                body.append(line)
        if not closed:
            raise ValueError(end + " not found")
        try:
            der = base64.b64decode("".join(body), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError("unable to decode base64 string: " + str(e)) from e
        yield kind, headers, der


def _reject_der(data, what, cmd):
    if len(data) > 1 and data[0] == 0x30 and "-----BEGIN" not in data.decode("latin-1"):
        raise Rejected("der_not_pem", f"{what}: is DER (binary), not PEM; convert it: openssl {cmd} -inform DER"
                                      " -in FILE -out FILE.pem")


def certificates(data, what):
    _reject_der(data, what, "x509")
    certs = []
    try:
        for kind, _headers, der in _pem_blocks(data):
            if kind not in ("CERTIFICATE", "X509 CERTIFICATE"):
                raise Rejected("malformed_pem", f"{what}: holds a {_bc_kind(kind)} where only CERTIFICATE blocks"
                                                " belong (leaf first, then chain)")
            cert = x509.load_der_x509_certificate(der)
            cert.extensions  # noqa: B018 - a certificate whose extensions do not parse is corrupt for the JDK too
            certs.append(cert)
    except Rejected:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise Rejected("malformed_pem", f"{what}: PEM does not parse (truncated or corrupt?): {_one_line(e)}") from e
    if not certs:
        raise Rejected("malformed_pem", f"{what}: no '-----BEGIN CERTIFICATE-----' block found")
    return certs


def _bc_kind(kind):
    return {"CERTIFICATE": "X509CertificateHolder", "X509 CERTIFICATE": "X509CertificateHolder",
            "PUBLIC KEY": "SubjectPublicKeyInfo", "CERTIFICATE REQUEST": "PKCS10CertificationRequest",
            "PRIVATE KEY": "PrivateKeyInfo", "RSA PRIVATE KEY": "PEMKeyPair", "EC PRIVATE KEY": "PEMKeyPair",
            "TRUSTED CERTIFICATE": "X509TrustedCertificateBlock"}.get(kind, kind)


def _der_items(der):
    """The (tag, value) items of one DER SEQUENCE's contents; minimal, for algorithm identifiers."""
    def read(buf, pos):
        tag = buf[pos]
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos:pos + n], "big")
            pos += n
        return tag, buf[pos:pos + length], pos + length
    tag, content, _ = read(der, 0)
    if tag != 0x30:
        raise ValueError("not a SEQUENCE")
    items, pos = [], 0
    while pos < len(content):
        t, v, pos = read(content, pos)
        items.append((t, v))
    return items


def _oid(value):
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    n = 0
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(str(p) for p in parts)


def _key_algorithm(kind, der):
    """(algorithm OID, curve OID or None) of a PKCS#8 or SEC1 key, as PEMKeyPair/PrivateKeyInfo give it."""
    items = _der_items(der)
    if kind == "EC PRIVATE KEY":
        params = [v for t, v in items if t == 0xA0]
        curve = None
        if params and params[0][:1] == b"\x06":
            curve = _oid(_der_items(b"\x30" + bytes([len(params[0])]) + params[0])[0][1]) if len(params[0]) < 128 \
                else None
        return EC_PUBLIC_KEY, curve
    if kind == "PRIVATE KEY":
        alg = _der_items(bytes([0x30]) + _der_len(items[1][1]) + items[1][1])
        curve = _oid(alg[1][1]) if len(alg) > 1 and alg[1][0] == 0x06 else None
        return _oid(alg[0][1]), curve
    return None, None


def _der_len(content):
    n = len(content)
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _curve_describe(oid):
    if oid is None:
        return "a curve given by explicit parameters rather than by name"
    names = {"1.3.132.0.10": "secp256k1", "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1", "1.3.132.0.33": "secp224r1",
             "1.2.840.10045.3.1.1": "secp192r1"}
    return f"{SUPPORTED_CURVES.get(oid) or names.get(oid, 'curve')} ({oid})"


def private_key(data, what):
    _reject_der(data, what, "pkey")
    key = None
    try:
        for kind, headers, der in _pem_blocks(data):
            if kind == "EC PARAMETERS":
                continue
            if kind == "ENCRYPTED PRIVATE KEY" or (
                    kind.endswith(" PRIVATE KEY") and "ENCRYPTED" in headers.get("Proc-Type", "")):
                raise Rejected("encrypted_key", f"{what}: the private key is encrypted; Teleport cannot use a"
                                                " passphrase, write it unencrypted (openssl pkey -in tls.key -out"
                                                " tls.key.plain)")
            if kind not in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"):
                raise Rejected("malformed_pem", f"{what}: holds a {_bc_kind(kind)} where a private key belongs")
            if key is not None:
                raise Rejected("malformed_pem", f"{what}: holds more than one private key")
            algorithm, curve = _key_algorithm(kind, der)
            if algorithm == EC_PUBLIC_KEY and curve not in SUPPORTED_CURVES:
                raise Rejected("unsupported_curve", f"{what}: the EC key is on {_curve_describe(curve)}; Teleport"
                                                    f" (Go's crypto/tls) and browsers only use {SUPPORTED_NAMES};"
                                                    " issue a new key on P-256")
            pem = (f"-----BEGIN {kind}-----\n" + base64.encodebytes(der).decode() + f"-----END {kind}-----\n")
            try:
                key = serialization.load_pem_private_key(pem.encode(), password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm) as e:
                raise Rejected("unsupported_key", f"{what}: unsupported private key ({algorithm}): "
                                                  f"{_one_line(e)}") from e
    except Rejected:
        raise
    except (ValueError, IndexError) as e:
        raise Rejected("malformed_pem", f"{what}: PEM does not parse (truncated or corrupt?): {_one_line(e)}") from e
    if key is None:
        raise Rejected("malformed_pem", f"{what}: no '-----BEGIN ... PRIVATE KEY-----' block found")
    return key


def _one_line(e):
    return " ".join((str(e) or type(e).__name__).split())


# --- the checks (PairValidator) ----------------------------------------------------------------------

def fingerprint(cert):
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _ext(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert):
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(bc and bc.value.ca)


def _subject(cert):
    return cert.subject.rfc4514_string()


def _signed_by(cert, issuer_key):
    """Whether issuer_key verifies cert's signature (X509Certificate.verify(PublicKey))."""
    try:
        data, sig = cert.tbs_certificate_bytes, cert.signature
        if isinstance(issuer_key, rsa.RSAPublicKey):
            pad = cert.signature_algorithm_parameters
            issuer_key.verify(sig, data, pad if pad is not None else padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(issuer_key, ec.EllipticCurvePublicKey):
            # SunEC (JDK 16 and later) implements only P-256, P-384 and P-521: a signature by a key on any
            # other curve does not verify there.
            if _curve_oid(issuer_key.curve) not in SUPPORTED_CURVES:
                return False
            issuer_key.verify(sig, data, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(issuer_key, dsa.DSAPublicKey):
            issuer_key.verify(sig, data, cert.signature_hash_algorithm)
        elif isinstance(issuer_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            issuer_key.verify(sig, data)
        else:
            return False
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _issued_by(cert, issuer):
    return cert.issuer == issuer.subject and _signed_by(cert, _safe_public_key(issuer))


class Validator:
    def __init__(self, names, min_validity_nanos, anchors_pem, trust_label, now, cert_term="node_agent_tls_cert_pem",
                 key_term="node_agent_tls_key_pem"):
        self.names = list(names)
        self.min_validity = timedelta(microseconds=min_validity_nanos // 1000)
        self.min_validity_text = _format_duration(min_validity_nanos)
        self.anchors_pem = anchors_pem
        self.trust_label = trust_label
        self.now = now
        self.cert_term = cert_term
        self.key_term = key_term

    def check(self, cert_pem, key_pem):
        """(problems, chain): every problem, first to fix first, as PairValidator.check orders them."""
        problems = []
        chain = key = None
        try:
            chain = certificates(cert_pem, self.cert_term)
        except Rejected as r:
            problems.append(r)
        try:
            key = private_key(key_pem, self.key_term)
        except Rejected as r:
            problems.append(r)
        if chain is None:
            return problems, None
        try:
            self._check_order(chain)
        except Rejected as r:
            problems.append(r)
            return problems, chain
        leaf = chain[0]
        key_usable = self._collect(problems, lambda: self._check_leaf_key(leaf))
        if key is not None and key_usable:
            self._collect(problems, lambda: self._check_key_matches(key, leaf))
        valid_now = True
        try:
            self._check_validity(leaf)
        except Rejected as r:
            problems.append(r)
            valid_now = r.reason == "expires_too_soon"
        self._collect(problems, lambda: self._check_names(leaf))
        self._collect(problems, lambda: self._check_key_usage(leaf))
        self._collect(problems, lambda: self._check_eku(leaf))
        at = self.now if valid_now else leaf.not_valid_before_utc
        self._collect(problems, lambda: self._check_trust(chain, at))
        return problems, chain

    @staticmethod
    def _collect(problems, check):
        try:
            check()
            return True
        except Rejected as r:
            problems.append(r)
            return False

    def _check_order(self, chain):
        for i in range(len(chain) - 1):
            if not _issued_by(chain[i], chain[i + 1]):
                elsewhere = any(other is not chain[i] and _issued_by(chain[i], other) for other in chain)
                if elsewhere or _is_ca(chain[0]):
                    raise Rejected("chain_wrong_order", f"{self.cert_term}: certificates are out of order at position"
                                                        f" {i + 1} ({_subject(chain[i])}); put the leaf first, then"
                                                        " each issuer in turn")
                raise Rejected("chain_untrusted", f"{self.cert_term}: certificate {i + 2} ({_subject(chain[i + 1])}) did"
                                                  f" not issue certificate {i + 1} ({_subject(chain[i])}); the chain is"
                                                  " not a chain")
        if _is_ca(chain[0]):
            raise Rejected("chain_wrong_order", f"{self.cert_term}: the first certificate ({_subject(chain[0])}) is a"
                                                " CA; put the leaf first")

    def _check_leaf_key(self, leaf):
        try:
            pub = leaf.public_key()
        except (ValueError, UnsupportedAlgorithm) as e:
            raise Rejected("unsupported_curve", f"{self.cert_term}: the leaf's key cannot be used: {_one_line(e)}") \
                from e
        if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < MIN_RSA_BITS:
            raise Rejected("weak_key", f"{self.cert_term}: the leaf's RSA key has {pub.key_size} bits; TLS clients"
                                       f" refuse RSA keys under {MIN_RSA_BITS} bits; issue a new key of at least"
                                       f" {MIN_RSA_BITS} bits (openssl genpkey -algorithm RSA -pkeyopt"
                                       " rsa_keygen_bits:2048) or an ECDSA P-256 key")
        if isinstance(pub, ec.EllipticCurvePublicKey):
            oid = _curve_oid(pub.curve)
            if oid not in SUPPORTED_CURVES:
                raise Rejected("unsupported_curve", f"{self.cert_term}: the leaf's EC key is on"
                                                    f" {_curve_describe(oid)}; Teleport (Go's crypto/tls) and browsers"
                                                    f" only use {SUPPORTED_NAMES}; issue a new key on P-256 (openssl"
                                                    " genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)")

    def _check_key_matches(self, key, leaf):
        # The JDK names Ed25519 and Ed448 keys both "EdDSA" and signs them as Ed25519: an Ed448 key never
        # matches there; DSA, X25519 and X448 keys have no signature algorithm in PairValidator.
        if isinstance(key, (dsa.DSAPrivateKey,)) or not isinstance(
                key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                      ed448.Ed448PrivateKey)):
            raise Rejected("unsupported_key", f"{self.key_term}: {_jdk_algorithm(key)} keys are not supported; use"
                                              " RSA, ECDSA or Ed25519")
        challenge = os.urandom(32)
        pub = leaf.public_key()
        try:
            if isinstance(key, rsa.RSAPrivateKey):
                sig = key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
                pub.verify(sig, challenge, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ec.EllipticCurvePrivateKey):
                sig = key.sign(challenge, ec.ECDSA(hashes.SHA256()))
                pub.verify(sig, challenge, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, ed25519.Ed25519PrivateKey):
                if not isinstance(pub, ed25519.Ed25519PublicKey):
                    raise InvalidSignature()
                pub.verify(key.sign(challenge), challenge)
            else:
                raise InvalidSignature()
            matches = True
        except (InvalidSignature, TypeError, ValueError, AttributeError):
            matches = False
        if not matches:
            raise Rejected("key_mismatch", f"{self.key_term}: does not belong to the leaf certificate"
                                           f" ({_subject(leaf)}, {_jdk_algorithm(pub)} key); drop the matching pair")

    def _check_validity(self, leaf):
        not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        if self.now < not_before:
            raise Rejected("not_yet_valid", f"{self.cert_term}: not valid before {_iso(not_before)} (now"
                                            f" {_iso(self.now)})")
        if self.now > not_after:
            raise Rejected("expired", f"{self.cert_term}: expired at {_iso(not_after)}")
        if not_after - self.now < self.min_validity:
            raise Rejected("expires_too_soon", f"{self.cert_term}: expires at {_iso(not_after)}, within"
                                               f" node_agent_tls_min_validity ({self.min_validity_text})")

    def _check_names(self, leaf):
        try:
            dns, ips = subject_names(leaf)
        except ValueError as e:
            raise Rejected("malformed_pem", f"{self.cert_term}: subject alternative names do not parse: {e}") from e
        missing = [n for n in self.names if not covers(dns, ips, n)]
        if missing:
            raise Rejected("missing_san", f"{self.cert_term}: does not cover {_java_list(missing)} from"
                                          f" node_agent_tls_required_names; its DNS names are {_java_list(dns)}"
                                          + (f" and IPs {_java_list(ips)}" if ips else ""))

    def _check_key_usage(self, leaf):
        ku = _ext(leaf, ExtensionOID.KEY_USAGE)
        if ku is not None and not ku.value.digital_signature:
            raise Rejected("missing_digital_signature", f"{self.cert_term}: the leaf's key usage"
                                                        f" {_java_list(_key_usage_names(ku.value))} lacks digitalSignature, which a"
                                                        " TLS 1.3 or ECDHE server signs its handshake with (browsers"
                                                        " refuse the certificate); reissue it with keyUsage"
                                                        " digitalSignature (for RSA, keyEncipherment may stay beside"
                                                        " it)")

    def _check_eku(self, leaf):
        eku = _ext(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
        if eku is None:
            return
        usages = [u.dotted_string for u in eku.value]
        if SERVER_AUTH in usages:
            return
        names = [EKU_NAMES.get(u, u) for u in usages]
        raise Rejected("missing_server_auth", f"{self.cert_term}: the leaf's extended key usage {_java_list(names)} does not"
                                              f" include serverAuth ({SERVER_AUTH})"
                                              + ("; anyExtendedKeyUsage is not enough: browsers refuse it for a"
                                                 " server" if ANY_EKU in usages else "")
                                              + "; reissue it with extendedKeyUsage serverAuth (beside clientAuth if"
                                                " it also needs that)")

    def _check_trust(self, chain, at):
        if isinstance(self.anchors_pem, OSError):
            raise Rejected("chain_untrusted", f"{self.trust_label}: cannot load: {self.anchors_pem}")
        try:
            anchors = x509.load_pem_x509_certificates(self.anchors_pem)
        except ValueError as e:
            if b"-----BEGIN" not in self.anchors_pem:
                raise Rejected("chain_untrusted", f"{self.trust_label}: holds no certificates") from e
            raise Rejected("chain_untrusted", f"{self.trust_label}: cannot load: {_one_line(e)}") from e
        prints = {fingerprint(a) for a in anchors}
        path = list(chain)
        while len(path) > 1 and fingerprint(path[-1]) in prints:
            path.pop()
        problem = pkix_problem(path, anchors, at)
        if problem:
            raise Rejected("chain_untrusted", f"{self.cert_term}: chain does not verify against {self.trust_label}:"
                                              f" {problem}; include the intermediates after the leaf")


# --- PKIX, as the JDK's CertPathValidator("PKIX") judges a path with revocation off -------------------

# Extensions the JDK's PKIX checkers process (and so may be critical): ConstraintsChecker, KeyChecker,
# PolicyChecker; the target certificate's EKU and SAN are left to the caller (KeyChecker).
_PKIX_KNOWN = {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.KEY_USAGE,
               ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.POLICY_MAPPINGS, ExtensionOID.POLICY_CONSTRAINTS,
               ExtensionOID.INHIBIT_ANY_POLICY}
_TARGET_KNOWN = _PKIX_KNOWN | {ExtensionOID.EXTENDED_KEY_USAGE, ExtensionOID.SUBJECT_ALTERNATIVE_NAME}


def pkix_problem(path, anchors, at):
    """Why the path (target first) does not validate to one of the anchors at `at`, or None."""
    top = path[-1]
    candidates = [a for a in anchors if a.subject == top.issuer]
    if not candidates:
        return "Path does not chain with any of the trust anchors"
    last = None
    for anchor in candidates:
        last = _pkix_from(anchor, path, at)
        if last is None:
            return None
    return last


def _pkix_from(anchor, path, at):
    issuer_key, issuer_name = anchor.public_key(), anchor.subject
    max_path = None  # the anchor's own basicConstraints are not applied (RFC 5280 6.1, as the JDK)
    permitted, excluded = None, []
    n = len(path)
    for index, cert in enumerate(reversed(path)):
        target = index == n - 1
        weak = _algorithm_problem(issuer_key, cert)
        if weak:
            return weak
        if cert.issuer != issuer_name:
            return "subject/issuer name chaining check failed"
        if not _signed_by(cert, issuer_key):
            return "signature check failed"
        if at < cert.not_valid_before_utc:
            return f"certificate not valid till {_iso(cert.not_valid_before_utc)}"
        if at > cert.not_valid_after_utc:
            return f"certificate expired on {_iso(cert.not_valid_after_utc)}"
        names_problem = _name_constraints_problem(cert, permitted, excluded, target)
        if names_problem:
            return names_problem
        known = _TARGET_KNOWN if target else _PKIX_KNOWN
        for ext in cert.extensions:
            if ext.critical and ext.oid not in known:
                return f"Unrecognized critical extension(s): {ext.oid.dotted_string}"
        if not target:
            bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
            self_issued = cert.issuer == cert.subject
            if cert.version != x509.Version.v3:
                if not (index == 0 and self_issued):
                    return "basic constraints check failed: this is not a CA certificate"
            elif bc is None or not bc.value.ca:
                return "basic constraints check failed: this is not a CA certificate"
            if not self_issued:
                if max_path is not None:
                    if max_path <= 0:
                        return "basic constraints check failed: pathLenConstraint violated - this cert must be the" \
                               " last cert in the certification path"
                    max_path -= 1
            if bc is not None and bc.value.path_length is not None:
                max_path = bc.value.path_length if max_path is None else min(max_path, bc.value.path_length)
            ku = _ext(cert, ExtensionOID.KEY_USAGE)
            if ku is not None and not ku.value.key_cert_sign:
                return "CA key usage check failed: keyCertSign bit is not set"
            nc = _ext(cert, ExtensionOID.NAME_CONSTRAINTS)
            if nc is not None:
                if nc.value.permitted_subtrees is not None:
                    subtrees = list(nc.value.permitted_subtrees)
                    permitted = subtrees if permitted is None else [s for s in subtrees if s in permitted] or subtrees
                excluded = excluded + list(nc.value.excluded_subtrees or [])
        issuer_key, issuer_name = cert.public_key(), cert.subject
    return None


def _algorithm_problem(issuer_key, cert):
    """jdk.certpath.disabledAlgorithms as the JDK 17 ships it: MD2, MD5 and keys under the floors; SHA1's
    restrictions there apply only to jdkCA anchors, TLSServer usage and signed JARs."""
    algorithm = cert.signature_algorithm_oid.dotted_string
    if algorithm in ("1.2.840.113549.1.1.2", "1.2.840.113549.1.1.4"):
        return "Algorithm constraints check failed on signature algorithm"
    for key in (issuer_key, _safe_public_key(cert)):
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 1024:
            return "Algorithm constraints check failed on keysize limits"
        if isinstance(key, dsa.DSAPublicKey) and key.key_size < 1024:
            return "Algorithm constraints check failed on keysize limits"
        if isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < 224:
            return "Algorithm constraints check failed on keysize limits"
    return None


def _safe_public_key(cert):
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def _name_constraints_problem(cert, permitted, excluded, target):
    """DNS and IP name constraints of the issuers above (RFC 5280 4.2.1.10), over the cert's SANs."""
    if permitted is None and not excluded:
        return None
    try:
        dns, ips = subject_names(cert)
    except ValueError:
        return "name constraints check failed"
    for name in dns:
        n = name.lower().rstrip(".")
        if any(_dns_within(n, s.value) for s in excluded if isinstance(s, x509.DNSName)):
            return "name constraints check failed"
        allowed = [s for s in (permitted or []) if isinstance(s, x509.DNSName)]
        if permitted is not None and allowed and not any(_dns_within(n, s.value) for s in allowed):
            return "name constraints check failed"
    for ip in ips:
        address = ipaddress.ip_address(ip)
        nets = [s.value for s in excluded if isinstance(s, x509.IPAddress)]
        if any(address.version == net.version and address in net for net in nets):
            return "name constraints check failed"
        allowed = [s.value for s in (permitted or []) if isinstance(s, x509.IPAddress)]
        if permitted is not None and allowed and not any(
                address.version == net.version and address in net for net in allowed):
            return "name constraints check failed"
    return None


def _dns_within(name, constraint):
    c = constraint.lower().lstrip(".")
    return name == c or name.endswith("." + c)


def _curve_oid(curve):
    return {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34", "secp521r1": "1.3.132.0.35",
            "secp256k1": "1.3.132.0.10", "secp224r1": "1.3.132.0.33", "secp192r1": "1.2.840.10045.3.1.1",
            "brainpoolP256r1": "1.3.36.3.3.2.8.1.1.7", "brainpoolP384r1": "1.3.36.3.3.2.8.1.1.11",
            "brainpoolP512r1": "1.3.36.3.3.2.8.1.1.13", "sect233r1": "1.3.132.0.27"}.get(curve.name, curve.name)


def _jdk_algorithm(key):
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "EC"
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return "DSA"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey, ed448.Ed448PrivateKey,
                        ed448.Ed448PublicKey)):
        return "EdDSA"
    return "XDH"


def _key_usage_names(ku):
    names = [KEY_USAGE_NAMES[i] for i, attr in enumerate(KEY_USAGE_BITS) if getattr(ku, attr)]
    if ku.key_agreement:
        if ku.encipher_only:
            names.append("encipherOnly")
        if ku.decipher_only:
            names.append("decipherOnly")
    return names


def subject_names(cert):
    """SubjectNames.of: DNS names and IP addresses of the SAN extension."""
    san = _ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is None:
        return [], []
    return (san.value.get_values_for_type(x509.DNSName),
            [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)])


def covers(dns_sans, ip_sans, required):
    """NameMatcher.covers: RFC 6125 wildcards, exact IPs; the subject CN is ignored."""
    want = _normalise(required)
    if _looks_like_ip(want):
        want_bytes = _ip_bytes(want)
        return want_bytes is not None and any(_ip_bytes(ip) == want_bytes for ip in ip_sans)
    return any(_san_covers(_normalise(san), want) for san in dns_sans)


def _san_covers(san, want):
    if san == want:
        return True
    if want.startswith("*.") or not san.startswith("*."):
        return False
    parent = san[2:]
    if "*" in parent or "." not in parent:
        return False
    dot = want.find(".")
    return dot > 0 and want[dot + 1:] == parent


def _normalise(name):
    n = name.strip().lower()
    return n[:-1] if n.endswith(".") else n


def _looks_like_ip(s):
    return ":" in s or re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", s) is not None


def _ip_bytes(s):
    try:
        address = ipaddress.ip_address(s)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.packed


def _java_list(items):
    """A list as the agent's messages print one (Java's List.toString)."""
    return "[" + ", ".join(str(i) for i in items) + "]"


def _iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_duration(nanos):
    if nanos == 0:
        return "0s"
    seconds, rest = divmod(nanos, 1_000_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if seconds or rest:
        out += f"{seconds}" + (f".{rest:09d}".rstrip("0") if rest else "") + "s"
    return out


def validate(cert_pem, key_pem, names, min_validity, ca_pem="", trust_bundle="/etc/ssl/certs/ca-certificates.crt",
             now=None):
    """The whole of `node-agent validate --json` on in-memory inputs: a dict of the same shape.

    Raises ValueError for what the command refuses as arguments (names, min validity)."""
    if not names:
        raise ValueError("node_agent_tls_required_names needs at least one name, such as"
                         " teleport.example.com,*.teleport.example.com")
    for n in names:
        problem = name_problem(n)
        if problem:
            raise ValueError(f"node_agent_tls_required_names: '{n}' {problem}")
    try:
        nanos = go_duration_nanos(min_validity)
    except ValueError as e:
        raise ValueError(f"node_agent_tls_min_validity: {e}") from e
    if nanos < 0:
        raise ValueError("node_agent_tls_min_validity: must be >= 0")
    names = [n.strip() for n in names if n.strip()]
    problems = []
    cert = _input(cert_pem, "node_agent_tls_cert_pem", "missing_cert", problems)
    key = _input(key_pem, "node_agent_tls_key_pem", "missing_key", problems)
    chain = None
    if cert is not None and key is not None:
        if ca_pem:
            anchors = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
            label = "node_agent_tls_ca_pem"
        else:
            label = f"node_agent_tls_controller_trust_bundle ({trust_bundle})"
            try:
                with open(trust_bundle, "rb") as f:
                    anchors = f.read()
            except OSError as e:
                anchors = OSError(e.strerror)
        validator = Validator(names, nanos, anchors, label, now or datetime.now(timezone.utc))
        found, chain = validator.check(cert, key)
        problems.extend(found)
    leaf = chain[0] if chain else None
    dns, ips = subject_names(leaf) if leaf is not None else ([], [])
    return {
        "valid": not problems,
        "fingerprint_sha256": fingerprint(leaf) if leaf is not None else None,
        "not_before": _iso(leaf.not_valid_before_utc) if leaf is not None else None,
        "not_after": _iso(leaf.not_valid_after_utc) if leaf is not None else None,
        "names": dns + ips,
        "problems": [{"reason": p.reason, "detail": p.detail} for p in problems],
    }


def _input(text, term, missing, problems):
    """ValidateCommand.read, on a variable instead of a file: empty is absent, the agent's size limit holds."""
    data = text.encode() if isinstance(text, str) else text
    if not data:
        problems.append(Rejected(missing, f"{term}: is empty"))
        return None
    if len(data) > MAX_BYTES:
        problems.append(Rejected("too_large", f"{term}: is {len(data)} bytes, more than the agent's default"
                                              f" tls.max_file_bytes ({MAX_BYTES})"))
        return None
    return data


def main():
    module = AnsibleModule(
        argument_spec={
            "cert_pem": {"type": "str", "default": ""},
            "key_pem": {"type": "str", "default": "", "no_log": True},
            "ca_pem": {"type": "str", "default": ""},
            "trust_bundle": {"type": "path", "default": "/etc/ssl/certs/ca-certificates.crt"},
            "names": {"type": "list", "elements": "str", "required": True},
            "min_validity": {"type": "str", "default": "168h"},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    p = module.params
    try:
        result = validate(p["cert_pem"], p["key_pem"], p["names"], p["min_validity"], p["ca_pem"],
                          p["trust_bundle"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
