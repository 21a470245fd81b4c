"""The controller's pair validator (roles/node_agent/library/node_agent_tls_validate.py, Python) refuses
exactly what the node-agent's own validator (`node-agent validate`, Java) refuses: both run over one corpus of
good and bad pairs, and every case must get the same verdict and the same problem classes in the same order
(the agent's reason labels). Argument refusals (names, min validity) must be refused by both."""
import datetime as dt
import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
from argspec_doc import ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

JAR = ROOT / "node-agent" / "target" / "node-agent.jar"
DRIVER = Path(__file__).with_name("ParityValidate.java")
MODULE = ROOT / "roles" / "node_agent" / "library" / "node_agent_tls_validate.py"
NAMES = ["teleport.example.com", "*.teleport.example.com"]
NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


def load_validator():
    spec = importlib.util.spec_from_file_location("node_agent_tls_validate", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject_key, cn, issuer=None, *, ca=False, path_len=None, sans=NAMES, ips=(), days=(-1, 90),
          ku="default", eku=(ExtendedKeyUsageOID.SERVER_AUTH,), extra=(), hash_alg="sha256", name_constraints=None):
    """A certificate for subject_key; issuer is (cert, key) or None for self-signed."""
    issuer_cert, issuer_key = issuer if issuer else (None, subject_key)
    b = (x509.CertificateBuilder().subject_name(name(cn))
         .issuer_name(issuer_cert.subject if issuer_cert else name(cn))
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW + days[0] * DAY).not_valid_after(NOW + days[1] * DAY))
    b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
    if ku == "default":
        ku = ({"key_cert_sign": True, "crl_sign": True} if ca else {"digital_signature": True})
    if ku is not None:
        flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                     encipher_only=False, decipher_only=False)
        flags.update(ku)
        b = b.add_extension(x509.KeyUsage(**flags), critical=True)
    if not ca:
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        general = [x509.DNSName(s) for s in sans] + [x509.IPAddress(__import__("ipaddress").ip_address(i)) for i in ips]
        if general:
            b = b.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if name_constraints:
        b = b.add_extension(x509.NameConstraints(permitted_subtrees=[x509.DNSName(n) for n in name_constraints],
                                                 excluded_subtrees=None), critical=True)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    algorithm = None if isinstance(issuer_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else \
        {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}[hash_alg]
    return b.sign(issuer_key, algorithm)


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def pkcs8(key, fmt=serialization.PrivateFormat.PKCS8, password=None):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def corpus():
    """{case: (cert bytes or None, key bytes or None, ca bytes, names, min_validity)}."""
    root_key, int_key = p256(), p256()
    root = issue(root_key, "Parity Root", ca=True)
    inter = issue(int_key, "Parity Intermediate", (root, root_key), ca=True)
    ca = pem(root)
    signer = (inter, int_key)

    def leaf(key=None, **kw):
        key = key or p256()
        return issue(key, "teleport.example.com", kw.pop("issuer", signer), **kw), key

    good, good_key = leaf()
    cases = {}

    def case(label, cert, key, *, chain=(inter,), ca_pem=ca, names=NAMES, min_validity="168h"):
        cases[label] = (None if cert is None else (cert if isinstance(cert, bytes) else pem(cert, *chain)),
                        None if key is None else (key if isinstance(key, bytes) else pkcs8(key)),
                        ca_pem, names, min_validity)

    case("good", good, good_key)
    case("good_root_bundled", good, good_key, chain=(inter, root))
    case("good_text_around_blocks", b"Bag Attributes\n" + pem(good, inter) + b"trailing\n", good_key)
    case("good_pkcs1_rsa", *leaf(rsa.generate_private_key(65537, 2048)))
    cases["good_pkcs1_rsa"] = cases["good_pkcs1_rsa"][:1] + (
        pkcs8(serialization.load_pem_private_key(cases["good_pkcs1_rsa"][1], None),
              serialization.PrivateFormat.TraditionalOpenSSL),) + cases["good_pkcs1_rsa"][2:]
    sec1 = pkcs8(good_key, serialization.PrivateFormat.TraditionalOpenSSL)
    case("good_sec1_ec", good, sec1)
    case("good_ec_parameters_block", good,
         b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + sec1)
    case("good_p384", *leaf(ec.generate_private_key(ec.SECP384R1())))
    case("good_ed25519", *leaf(ed25519.Ed25519PrivateKey.generate()))
    case("good_no_eku_no_ku", *leaf(eku=(), ku=None))
    case("good_eku_server_and_client", *leaf(eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)))
    case("good_min_validity_zero", *leaf(days=(-1, 2)), min_validity="0")
    case("good_wildcard_one_label", good, good_key, names=["a.teleport.example.com"])
    case("good_case_and_trailing_dot", *leaf(sans=["Teleport.Example.COM.", "*.TELEPORT.example.com"]))
    case("good_ip_san", *leaf(ips=["10.0.0.1"]), names=["10.0.0.1"])
    self_key = p256()
    self_signed = issue(self_key, "teleport.example.com")
    case("good_self_signed_trusted_directly", self_signed, self_key, chain=(), ca_pem=pem(self_signed))
    rsa1024_int_key = rsa.generate_private_key(65537, 1024)
    rsa1024_int = issue(rsa1024_int_key, "Parity RSA-1024 Intermediate", (root, root_key), ca=True)
    case("good_rsa1024_intermediate", *leaf(issuer=(rsa1024_int, rsa1024_int_key)), chain=(rsa1024_int,))
    pathlen0_root_key = p256()
    pathlen0_root = issue(pathlen0_root_key, "Parity PathLen0 Root", ca=True, path_len=0)
    pl_int = issue(int_key, "Parity Intermediate", (pathlen0_root, pathlen0_root_key), ca=True)
    case("good_anchor_pathlen_not_applied", good, good_key, chain=(pl_int,), ca_pem=pem(pathlen0_root))

    case("expired", *leaf(days=(-90, -1)))
    case("not_yet_valid", *leaf(days=(1, 90)))
    case("expires_too_soon", *leaf(days=(-1, 2)))
    case("expires_too_soon_custom", *leaf(days=(-1, 20)), min_validity="720h")
    case("wrong_name", *leaf(sans=["other.example.com"]))
    case("wildcard_not_bare_parent", *leaf(sans=["*.teleport.example.com"]))
    case("wildcard_one_label_only", good, good_key, names=["a.b.teleport.example.com"])
    case("required_wildcard_needs_wildcard", *leaf(sans=["teleport.example.com", "a.teleport.example.com"]))
    case("partial_wildcard_label", *leaf(sans=["teleport.example.com", "f*.teleport.example.com"]),
         names=["foo.teleport.example.com"])
    case("wildcard_over_tld", *leaf(sans=["*.com"]), names=["example.com"])
    case("cn_only", *leaf(sans=[]))
    case("ip_required_dns_san", *leaf(sans=["10.0.0.1"]), names=["10.0.0.1"])
    case("key_mismatch", good, p256())
    case("key_mismatch_type", good, rsa.generate_private_key(65537, 2048))
    other_root_key = p256()
    other_root = issue(other_root_key, "Other Root", ca=True)
    case("untrusted_root", *leaf(issuer=(other_root, other_root_key)), chain=())
    case("missing_intermediate", good, good_key, chain=())
    case("wrong_order", pem(inter, good), good_key)
    case("not_a_chain", pem(good, issue(p256(), "Unrelated", ca=False)), good_key)
    case("ca_first_alone", root, root_key, chain=())
    case("rsa_1024_leaf", *leaf(rsa.generate_private_key(65537, 1024)))
    k1 = ec.generate_private_key(ec.SECP256K1())
    case("secp256k1_leaf_and_key", *leaf(k1))
    case("secp256k1_key_p256_cert", good, k1)
    case("secp256k1_cert_p256_key", leaf(k1)[0], good_key)
    k1_int = issue(k1, "Parity secp256k1 Intermediate", (root, root_key), ca=True)
    case("secp256k1_intermediate", *leaf(issuer=(k1_int, k1)), chain=(k1_int,))
    dsa_key = dsa.generate_private_key(2048)
    case("dsa_leaf_and_key", *leaf(dsa_key))
    case("dsa_key_ec_cert", good, dsa_key)
    case("x25519_key", good, x25519.X25519PrivateKey.generate())
    case("ed448_leaf_and_key", *leaf(ed448.Ed448PrivateKey.generate()))
    case("garbage_cert", b"hello, this is not a certificate\n", good_key)
    case("garbage_key", good, b"not a key at all\n")
    case("truncated_cert", pem(good)[:200], good_key)
    broken = pem(good).replace(b"\n", b"\n", 1)
    broken = broken[:60] + b"!!!!" + broken[64:]
    case("corrupt_base64_cert", broken, good_key)
    case("der_cert", good.public_bytes(serialization.Encoding.DER), good_key)
    case("der_key", good, good_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    case("encrypted_pkcs8_key", good, pkcs8(good_key, password=b"secret"))
    case("encrypted_traditional_key", good,
         pkcs8(good_key, serialization.PrivateFormat.TraditionalOpenSSL, password=b"secret"))
    case("key_file_holds_certificate", good, pem(good))
    case("cert_file_holds_key", pkcs8(good_key) + pem(good), good_key)
    case("two_keys", good, pkcs8(good_key) + pkcs8(p256()))
    case("trusted_certificate_block", pem(good).replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE"), good_key)
    case("empty_cert", None, good_key)
    case("empty_key", good, None)
    case("too_large_cert", pem(good, inter) + b"#" * (1024 * 1024), good_key)
    case("no_digital_signature", *leaf(ku={"key_encipherment": True}))
    case("eku_client_only", *leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)))
    case("eku_any_only", *leaf(eku=(x509.ObjectIdentifier("2.5.29.37.0"),)))
    not_ca_key = p256()
    not_ca = issue(not_ca_key, "Parity Not-a-CA", (root, root_key), ca=False, sans=[], eku=(), ku=None)
    case("intermediate_not_ca", *leaf(issuer=(not_ca, not_ca_key)), chain=(not_ca,))
    no_certsign_key = p256()
    no_certsign = issue(no_certsign_key, "Parity No-CertSign", (root, root_key), ca=True, ku={"crl_sign": True})
    case("intermediate_without_keycertsign", *leaf(issuer=(no_certsign, no_certsign_key)), chain=(no_certsign,))
    old_int_key = p256()
    old_int = issue(old_int_key, "Parity Old Intermediate", (root, root_key), ca=True, days=(-100, -50))
    case("intermediate_expired", *leaf(issuer=(old_int, old_int_key), days=(-60, 90)), chain=(old_int,))
    case("expired_and_untrusted", *leaf(issuer=(other_root, other_root_key), days=(-90, -1)), chain=())
    second_key = p256()
    pl0 = issue(int_key, "Parity Intermediate", (root, root_key), ca=True, path_len=0)
    second = issue(second_key, "Parity Second Intermediate", (pl0, int_key), ca=True)
    case("intermediate_pathlen_violated", *leaf(issuer=(second, second_key)), chain=(second, pl0))
    nc_key = p256()
    nc = issue(nc_key, "Parity Constrained", (root, root_key), ca=True, name_constraints=["example.org"])
    case("name_constraints_violated", *leaf(issuer=(nc, nc_key)), chain=(nc,))
    case("unknown_critical_extension",
         *leaf(extra=[(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)]))
    case("trust_bundle_garbage", good, good_key, ca_pem=b"junk\n")
    case("trust_bundle_wrong_root", good, good_key, ca_pem=pem(other_root))
    return cases


ARGUMENT_REFUSALS = {
    "names_wildcard_over_tld": (["*.com"], "168h"),
    "names_partial_wildcard": (["a*.example.com"], "168h"),
    "names_not_dns": (["exa mple.com"], "168h"),
    "names_empty": ([], "168h"),
    "min_validity_unknown_unit": (NAMES, "1w"),
    "min_validity_missing_unit": (NAMES, "60"),
    "min_validity_negative": (NAMES, "-1h"),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """{case: (java result, python result)}, each {'refused_args': bool, 'valid', 'reasons'}."""
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: build it with mvn -B -ntp -pl node-agent -am package -DskipTests")
    validator = load_validator()
    tmp = tmp_path_factory.mktemp("parity")
    manifest, python = [], {}
    for label, (cert, key, ca, names, min_validity) in corpus().items():
        d = tmp / label
        d.mkdir()
        for file, data in (("tls.crt", cert), ("tls.key", key), ("ca.crt", ca)):
            if data is not None:
                (d / file).write_bytes(data)
        manifest.append([label, "--cert", str(d / "tls.crt"), "--key", str(d / "tls.key"), "--names", ",".join(names),
                         "--min-validity", min_validity, "--trust-bundle", str(d / "ca.crt"), "--json"])
        result = validator.validate(cert or b"", key or b"", names, min_validity, ca_pem=ca)
        python[label] = {"refused_args": False, "valid": result["valid"],
                         "reasons": [p["reason"] for p in result["problems"]], "detail": result["problems"]}
    for label, (names, min_validity) in ARGUMENT_REFUSALS.items():
        good = tmp / "good"
        manifest.append([label, "--cert", str(good / "tls.crt"), "--key", str(good / "tls.key"),
                         "--names", ",".join(names), "--min-validity", min_validity, "--json"])
        try:
            validator.validate(b"x", b"x", names, min_validity, ca_pem=b"x")
            python[label] = {"refused_args": False}
        except ValueError as e:
            python[label] = {"refused_args": True, "detail": str(e)}
    (tmp / "manifest.tsv").write_text("".join("\t".join(m) + "\n" for m in manifest))
    out = subprocess.run(["java", "-cp", str(JAR), str(DRIVER), str(tmp / "manifest.tsv")], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    java = {}
    for line in out.splitlines():
        label, rc, text = line.split("\t", 2)
        # The command names its inputs by file and flag, the module by the role's variables.
        d = str(tmp / label)
        for java_term, term in ((d + "/tls.crt", "node_agent_tls_cert_pem"), (d + "/tls.key", "node_agent_tls_key_pem"),
                                ("--names", "node_agent_tls_required_names"),
                                ("--min-validity", "node_agent_tls_min_validity")):
            text = text.replace(java_term, term)
        if text.startswith("{"):
            doc = json.loads(text)
            java[label] = {"refused_args": False, "valid": doc["valid"],
                           "reasons": [p["reason"] for p in doc["problems"]], "detail": doc["problems"]}
        else:
            java[label] = {"refused_args": True, "detail": text}
    return {label: (java[label], python[label]) for label in python}


def test_the_corpus_holds_good_and_bad_pairs_of_every_class(verdicts):
    reasons = {r for java, _ in verdicts.values() for r in java.get("reasons", [])}
    assert {"expired", "not_yet_valid", "expires_too_soon", "missing_san", "key_mismatch", "chain_untrusted",
            "chain_wrong_order", "weak_key", "unsupported_curve", "unsupported_key", "malformed_pem",
            "der_not_pem", "encrypted_key", "missing_cert", "missing_key", "too_large",
            "missing_digital_signature", "missing_server_auth"} <= reasons
    assert sum(1 for java, _ in verdicts.values() if java.get("valid")) >= 15


def test_python_and_java_agree_on_every_case(verdicts):
    """Same verdict and the same problem classes, in order, for every pair; both refuse the same arguments."""
    differ = {label: {"java": java, "python": python} for label, (java, python) in verdicts.items()
              if {k: java.get(k) for k in ("refused_args", "valid", "reasons")}
              != {k: python.get(k) for k in ("refused_args", "valid", "reasons")}}
    assert not differ, json.dumps(differ, indent=1, default=str)


# Reasons whose detail the port words exactly as the agent does. The others quote a parser's or the JDK's
# PKIX message or the time now, which the port cannot reproduce word for word, or (missing_cert,
# missing_key) name a file the command did not find where the module has an empty variable.
SAME_WORDS = {"missing_san", "weak_key", "missing_digital_signature", "missing_server_auth", "expired",
              "expires_too_soon", "key_mismatch", "chain_wrong_order", "encrypted_key", "der_not_pem", "unsupported_curve",
              "too_large", "unsupported_key"}


def test_python_words_its_refusals_as_java_does(verdicts):
    """An operator reads the same sentence from the controller as from the agent's own log."""
    differ = {}
    for label, (java, python) in verdicts.items():
        for j, p in zip(java.get("detail") or [], python.get("detail") or [], strict=False):
            if isinstance(j, dict) and j["reason"] in SAME_WORDS and j["detail"] != p["detail"]:
                differ.setdefault(label, []).append({"java": j["detail"], "python": p["detail"]})
    assert not differ, json.dumps(differ, indent=1)


def test_the_role_validates_on_the_controller_without_java(tmp_path):
    """roles/node_agent/tasks/tls_validate.yml through real Ansible, with no java on PATH: a good pair yields
    its fingerprint, a bad one fails naming every problem, and the key never appears in the output."""
    from conftest import failures_by_host, local_host_vars, messages_by_host, play

    root_key, leaf_key, stranger = p256(), p256(), p256()
    root = issue(root_key, "Parity Root", ca=True)
    leaf = issue(leaf_key, "teleport.example.com", (root, root_key))
    base = {"node_agent_tls_required_names": NAMES, "node_agent_tls_ca_pem": pem(root).decode()}
    hosts = {
        "good": {**base, "node_agent_tls_cert_pem": pem(leaf).decode(), "node_agent_tls_key_pem": pkcs8(leaf_key).decode()},
        "bad": {**base, "node_agent_tls_cert_pem": pem(leaf).decode(), "node_agent_tls_key_pem": pkcs8(stranger).decode(),
                "node_agent_tls_required_names": ["other.example.com"]},
    }
    # A java that records being run and fails: the validation must never call one.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "java-was-run"
    (bin_dir / "java").write_text(f"#!/bin/sh\ntouch {marker}\nexit 127\n")
    (bin_dir / "java").chmod(0o755)
    inventory = {"all": {"vars": local_host_vars(), "hosts": hosts}}
    run = play(Path(__file__).with_name("validate_tls_pair.yml"), inventory, tmp_path,
               env={"ANSIBLE_STDOUT_CALLBACK": "json", "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert not marker.exists()
    fingerprint = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert messages_by_host(run)["good"][-1] == f"fingerprint {fingerprint}"
    [refusal] = failures_by_host(run)["bad"]
    assert "refused on the controller by the node-agent's validator" in refusal
    assert "node_agent_tls_key_pem: does not belong to the leaf certificate" in refusal
    assert "does not cover [other.example.com] from node_agent_tls_required_names" in refusal
    for key in (leaf_key, stranger):
        body = pkcs8(key).decode().splitlines()[1]
        assert body not in run.text
