"""The sandbox's converges: site.yml's and tls.yml's variables written from the world, a new
cluster's first converge in docs/tls.md's order (tls.yml issues into the store, then site.yml hands
the pair to every proxy), and the runs that must change nothing (check mode, the second run)."""
import json
import os
import re

import yaml

from .. import pki, site
from ..edge.common import read_json
from ..util import HarnessError, log
from . import aws, plays, services, world
from .state import STATE_DIR, hosts

SITE = "site.yml"
TLS = "tls.yml"
CLUSTER_CONFIG = "cluster-config.yml"
VARS_FILE = os.path.join(STATE_DIR, "site-vars.yml")
TLS_VARS_FILE = os.path.join(STATE_DIR, "tls-vars.yml")
# The issuer's store on this machine, the management host (docs/tls.md "One store").
TLS_STORE = os.path.join(STATE_DIR, "tls-issuer")
TLS_LOCK_TABLE = "sandbox-tls-issuer-lock"
PUBLIC_ADDR = f"{world.CLUSTER}:443"
# The runs that must change nothing take every pool in one batch: the batch size decides only
# how many hosts restart at once, and these runs restart none (any change fails them anyway).
# It halves their time; the first converge and every drill keep the roles' serial defaults.
ONE_BATCH = ("-e", "teleport_auth_serial=100%", "-e", "teleport_proxy_serial=100%")


def write_tls_vars(state):
    """tls.yml's variables in the sandbox: the cluster name and its wildcard in the public
    zone, Pebble as the CA, the sandbox's CoreDNS as the resolver the propagation check asks
    (the VPC resolver's part) and as every authoritative name server of the zone for a fallback
    (the Route 53 name servers do not exist here), and the lock table in
    moto, created on first use."""
    tls_vars = {
        "tls_issuer_domain": world.CLUSTER,
        "tls_issuer_route53_zone": world.ZONE,
        "tls_issuer_store_dir": TLS_STORE,
        "tls_issuer_lock_table": TLS_LOCK_TABLE,
        "tls_issuer_lock_region": world.REGIONS[0]["name"],
        "tls_issuer_lock_create_table": True,
        "tls_issuer_dns_resolver": world.DNS_LOCAL,
        "tls_issuer_dns_nameserver_addresses": {"*": world.DNS_LOCAL},
        "tls_issuer_dns_propagation_interval": 1,
        "tls_issuer_acme_email": f"ops@{world.ZONE}",
        "node_agent_jar_src": os.path.join(services.ARTIFACTS, "node-agent.jar"),
        **services.pebble(state).tls_yml_vars(),
    }
    with open(TLS_VARS_FILE, "w") as f:
        f.write("# Written by sandbox/sandbox for tls.yml in the sandbox.\n")
        yaml.safe_dump(tls_vars, f, sort_keys=True)
    return tls_vars


def write_site_vars(state):
    """site.yml's variables in the sandbox (harness.site.site_vars and the sandbox's differences):
    Teleport Enterprise (the double, with a test license), the proxies pointed at the auth NLB that
    aws-edge.yml made, joining with Teleport's IAM method, and the proxies' pair from the issuer's
    store (the first-converge hand-off of docs/tls.md)."""
    with open(services.TOKEN_FILE) as f:
        inventory_token = f.read().strip()
    sandbox_vars = site.site_vars(
        world.CLUSTER, prefix=world.SHORT_NAME, auth_server=auth_server_from_edge(),
        tls_dir=os.path.join(TLS_STORE, "current"), edition="enterprise",
        license=pki.test_license(os.path.join(STATE_DIR, "license.pem")),
        node_agent_jar=os.path.join(services.ARTIFACTS, "node-agent.jar"),
        # Teleport's IAM join, as on AWS: the proxies prove their instance profile (credentials from the
        # ec2-double's IMDS) with a signed sts:GetCallerIdentity, which the auth executes against moto's STS
        # through the one exception the Teleport double names (TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE).
        # No join secret exists anywhere.
        teleport_join_method="iam",
        teleport_join_iam_allow=[{"aws_account": world.ACCOUNT_ID,
                                  "aws_arn": f"arn:aws:sts::{world.ACCOUNT_ID}:assumed-role/"
                                             f"{world.INSTANCE_PROFILES['proxy']}/i-*"}],
        teleport_environment=(
            "{{ {'TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE': '%s'} if teleport_role == 'auth' else "
            "{'AWS_EC2_METADATA_SERVICE_ENDPOINT': %s[aws_region]} }}"
            % (world.sts_url(), json.dumps({r["name"]: world.imds_url(r["name"]) for r in world.REGIONS}))),
        # How often Teleport re-reads its key pairs (default 1m): the node-agent confirms a rotation
        # once Teleport serves the new pair, so this bounds each region's hand-over in tls.yml.
        teleport_https_keypairs_reload_interval="5s",
        node_agent_peers_inventory_url=f"{services.inventory_url()}/v1/peers",
        node_agent_peers_inventory_ca_pem=site.lookup(services.INVENTORY_CA),
        node_agent_peers_inventory_token=inventory_token,
        node_agent_peers_probe_interval="5s",
        node_agent_peers_probe_timeout="2s",
        node_agent_peers_refresh_interval="5s",
    )
    with open(VARS_FILE, "w") as f:
        f.write("# Written by sandbox/sandbox for site.yml in the sandbox.\n")
        yaml.safe_dump(sandbox_vars, f, sort_keys=True)
    os.chmod(VARS_FILE, 0o600)
    return sandbox_vars


def auth_server_from_edge():
    """teleport_auth_server from the file aws-edge.yml writes (aws_edge_auth_server_file)."""
    with open(aws.AUTH_SERVER_FILE) as f:
        value = (yaml.safe_load(f) or {}).get("teleport_auth_server")
    if not value or not value.endswith(":3025") or ".elb." not in value:
        raise HarnessError(f"{aws.AUTH_SERVER_FILE}: teleport_auth_server {value!r} is not the auth NLB's DNS name "
                           "and port 3025; look at ansible-aws-edge.log")
    return value


def site_yml(state, name, *args, check=True, extra_vars=(), awx=False):
    """site.yml in the sandbox with its variables (then extra_vars), as the run `name` (awx: through
    ansible-runner, as AWX's "Teleport: site" job template runs it)."""
    return plays.play(state, SITE, name, *args, extra_vars=[VARS_FILE, *extra_vars], check=check, awx=awx)


def tls_yml(state, name, *args, awx=False):
    """tls.yml as the sandbox runs it, with tls-vars.yml only: the cluster's variables are site.yml's
    extra vars here, which would override the pair tls.yml hands each node-agent (include_role vars rank
    below extra vars). Without them tls.yml's publishing play would publish another configuration, and
    refuses to (cluster_config: no teleport_version), so it is skipped here and publish() runs
    cluster-config.yml with the cluster's variables, as an operator whose variables live elsewhere does."""
    return plays.play(state, TLS, name, "--skip-tags", "cluster_config", *args, extra_vars=TLS_VARS_FILE, awx=awx)


def publish(state, name):
    """playbooks/cluster-config.yml with the cluster's variables (docs/boot.md)."""
    return plays.play(state, CLUSTER_CONFIG, name, extra_vars=VARS_FILE)


def issue(state):
    """Step 1 of docs/tls.md's first converge: tls.yml issues into the store, no host touched."""
    write_tls_vars(state)
    run = tls_yml(state, "issue", "-e", "tls_issuer_distribute=false")
    # validate-inventory.yml's tasks count as ok on a host without connecting to it.
    touched = {h: n for h, n in run.changed().items() if h != "localhost"}
    if touched:
        raise HarnessError(f"tls.yml (issue) changed hosts, want none before site.yml: {touched}")
    meta = read_json(os.path.join(TLS_STORE, "current", "meta.json")) or {}
    log(f"tls.yml (issue): {', '.join(meta.get('names', []))} from {meta.get('source')}, "
        f"sha256 {meta.get('fingerprint_sha256', '?')[:16]}..., not after {meta.get('not_after')}")


def first_converge(state):
    """A new cluster, in docs/tls.md's order: tls.yml issues, then site.yml converges every
    host and hands the stored pair to each proxy before Teleport starts there."""
    issue(state)
    return site_yml(state, "converge")


def check_mode(state):
    """Right after the converge, site.yml --check changes nothing (every pool in one batch)."""
    expect_no_change(site_yml(state, "check-mode", "--check", *ONE_BATCH), "check-mode")


def second_run(state):
    """site.yml again with the version every host runs: changed=0 on every host. `sandbox test`
    runs it after the upgrade drill, with the version upgrade.yml moved the cluster to, so it
    also proves that upgrade.yml leaves each host exactly as site.yml makes it (right after the
    converge, the check-mode run and the region-loss drill's --limit run are the changed=0 runs)."""
    running = {h.version() for h in hosts(state)}
    if len(running) != 1 or None in running:
        raise HarnessError(f"second run: the hosts run {sorted(map(str, running))}, want one version")
    version = running.pop()
    with open(VARS_FILE) as f:
        configured = yaml.safe_load(f)["teleport_version"]
    extra = [site.release_vars("enterprise", version)] if version != configured else []
    # As AWX's "Teleport: site" job template runs it: ansible-runner, the project's ansible.cfg, no Java (issue 26).
    expect_no_change(site_yml(state, "second-run", *ONE_BATCH, extra_vars=extra, awx=True), "second-run")
    log(f"site.yml with Teleport {version}, what every host runs, through ansible-runner with no Java: changed=0")


def expect_no_change(run, name):
    """A run that must change nothing: the hosts it changed, and which tasks, fail it."""
    changed = run.changed()
    if changed:
        tasks = sorted(set(re.findall(r"^((?:TASK|RUNNING HANDLER) \[[^\]]+\])[^\n]*\n(?:(?!TASK|RUNNING|PLAY)[^\n]*\n)*?changed:",
                                      run.text, re.M)))
        raise HarnessError(f"site.yml ({name}) reported changes, want changed=0: {changed}; changed tasks: {tasks}")


def upgrade_yml(state, name, version, check=True, **more):
    """upgrade.yml in the sandbox to the double's release version (more: other variables)."""
    return plays.play(state, "upgrade.yml", name, extra_vars=[VARS_FILE, {**site.release_vars("enterprise", version), **more}],
                      check=check)
