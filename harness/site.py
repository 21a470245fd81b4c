"""site.yml in a test world: the Teleport double's releases and site.yml's variables, written once
for the sandbox and the labs (each passes its differences).

  site_vars("lab.teleport.test", prefix="lab", auth_server="198.18.240.10:3025", tls_dir=pair_dir,
            edition="oss", teleport_join_method="token", teleport_join_token="lab-join-token-not-a-secret")
"""
import os

from .util import REPO, run

DOUBLE_BUILD = os.path.join(REPO, "tests", "teleport-double", "build.sh")
NODE_AGENT_JAR = os.path.join(REPO, "node-agent", "target", "node-agent.jar")


def release(edition="enterprise", version=None):
    """(version, tarball, sha256) of the Teleport double's release tarball (build.sh builds them,
    cached by source hash); the default version unless one of build/teleport-double/VERSIONS is asked for."""
    out = run(["bash", DOUBLE_BUILD], timeout=600).stdout.strip().splitlines()[-1]
    if version is None:
        with open(os.path.join(out, "VERSION")) as f:
            version = f.read().strip()
    product = "teleport-ent" if edition == "enterprise" else "teleport"
    tarball = os.path.join(out, f"{product}-v{version}-linux-amd64-bin.tar.gz")
    with open(tarball + ".sha256") as f:
        sha = f.read().split()[0]
    return version, tarball, sha


def release_vars(edition="enterprise", version=None):
    """The variables that name a release for site.yml and upgrade.yml."""
    version, tarball, sha = release(edition, version)
    return {"teleport_version": version, "teleport_tarball_src": tarball, "teleport_tarball_sha256": sha}


def lookup(path):
    """A variable read from a file on the controller when the play runs (never copied into a vars file)."""
    return "{{ lookup('ansible.builtin.file', '%s') }}" % path


def site_vars(cluster, *, prefix, auth_server, tls_dir, edition="enterprise", version=None, license=None,
              node_agent_jar=NODE_AGENT_JAR, **overrides):
    """site.yml's variables for a test world: Teleport (the double's release tarball, Enterprise with
    the license file given) with the DynamoDB backend and audit named after prefix, the proxies'
    public address, auth_server, the node-agent's jar, and the proxies' HTTPS pair read from tls_dir
    on the controller (tls.crt, tls.key, ca.crt: the issuer's store, or a throwaway CA's pair).
    overrides: the world's differences (its join method, timeouts, intervals)."""
    if edition == "enterprise" and not license:
        raise ValueError("site_vars: Enterprise needs a license file (pki.test_license(path) makes one)")
    v = {
        "teleport_edition": edition,
        "teleport_install_method": "tarball",
        **release_vars(edition, version),
        "teleport_storage_type": "dynamodb",
        "teleport_storage_region": "us-west-2",
        "teleport_dynamodb_table_name": f"{prefix}-backend",
        "teleport_storage_audit_events_uri": [f"dynamodb://{prefix}-events"],
        "teleport_storage_audit_sessions_uri": f"s3://{prefix}-sessions/records",
        "teleport_auth_server": auth_server,
        "teleport_public_addr": [f"{cluster}:443"],
        "node_agent_jar_src": node_agent_jar,
        "node_agent_tls_cert_pem": lookup(os.path.join(tls_dir, "tls.crt")),
        "node_agent_tls_key_pem": lookup(os.path.join(tls_dir, "tls.key")),
        "node_agent_tls_ca_pem": lookup(os.path.join(tls_dir, "ca.crt")),
    }
    if edition == "enterprise":
        v["teleport_license_content"] = lookup(license)
    v.update(overrides)
    return v
