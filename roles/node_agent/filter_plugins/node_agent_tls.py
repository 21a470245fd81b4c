"""Controller-side filters of the node_agent role (no module run, no JVM)."""
import base64
import binascii
import hashlib
import re

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")


def node_agent_leaf_sha256(pem):
    """The sha256 of the first certificate of a PEM chain, as the node-agent reports an installed pair's
    `fingerprint_sha256` (lowercase hex of the DER: PemPair.fingerprint). '' when there is no certificate
    to read: the caller then runs the agent's own validator, which names what is wrong."""
    if not isinstance(pem, str):
        return ""
    found = PEM_CERT.search(pem)
    if not found:
        return ""
    try:
        der = base64.b64decode("".join(found.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return hashlib.sha256(der).hexdigest() if der else ""


class FilterModule:
    def filters(self):
        return {"node_agent_leaf_sha256": node_agent_leaf_sha256}
