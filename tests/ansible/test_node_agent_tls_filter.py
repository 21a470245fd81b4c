"""roles/node_agent/filter_plugins/node_agent_tls.py: the controller's fingerprint of a handed pair's
certificate is the one the node-agent reports for it (its validator's `fingerprint`: sha256 of the
leaf's DER, the first of the chain), and anything that is not a certificate gives '' (the validator
then runs and names what is wrong)."""
import importlib.util

from conftest import ROOT
from cryptography import x509

from harness import pki


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTER = load("roles/node_agent/filter_plugins/node_agent_tls.py", "node_agent_tls_filter").node_agent_leaf_sha256
VALIDATOR = load("roles/node_agent/library/node_agent_tls_validate.py", "node_agent_tls_validate")


def test_the_fingerprint_is_the_agents_of_the_leaf(tmp_path):
    paths = pki.issue(str(tmp_path), ["teleport.example.com"])
    chain = open(paths["tls.crt"]).read()
    certs = x509.load_pem_x509_certificates(chain.encode())
    assert len(certs) == 2
    assert FILTER(chain) == VALIDATOR.fingerprint(certs[0])
    assert FILTER(chain) != VALIDATOR.fingerprint(certs[1])
    # Text around the blocks and CRLF line ends, as a pasted pair may have, change nothing.
    assert FILTER("subject=CN=x\r\n" + chain.replace("\n", "\r\n")) == FILTER(chain)


def test_anything_else_gives_no_fingerprint(tmp_path):
    paths = pki.issue(str(tmp_path), ["teleport.example.com"])
    key = open(paths["tls.key"]).read()
    for value in ["", None, 42, key, "-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----\n",
                  "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"]:
        assert FILTER(value) == "", value
