"""`sandbox test`: site.yml through the real inventory script, then the checks
against the converged hosts."""
import json
import os
import re
import subprocess
import time
import urllib.request

import yaml

from . import aws, ec2, hosts, pki, services, world
from .edge.common import read_json
from .util import REPO, STATE_DIR, SandboxError, log, run, wait_until

SITE = os.path.join(REPO, "playbooks", "site.yml")
INVENTORY_SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")
VARS_FILE = os.path.join(STATE_DIR, "site-vars.yml")
PUBLIC_ADDR = f"{world.CLUSTER}:443"


def build_double(edition="enterprise", version=None):
    """(version, tarball, sha256) of the Teleport double's release tarball; the
    default version unless one of build/teleport-double/VERSIONS is asked for."""
    out = run(["bash", os.path.join(REPO, "tests", "teleport-double", "build.sh")], timeout=600).stdout.strip().splitlines()[-1]
    if version is None:
        with open(os.path.join(out, "VERSION")) as f:
            version = f.read().strip()
    product = "teleport-ent" if edition == "enterprise" else "teleport"
    tarball = os.path.join(out, f"{product}-v{version}-linux-amd64-bin.tar.gz")
    with open(tarball + ".sha256") as f:
        sha = f.read().split()[0]
    return version, tarball, sha


TLS = os.path.join(REPO, "playbooks", "tls.yml")
CLUSTER_CONFIG = os.path.join(REPO, "playbooks", "cluster-config.yml")
TLS_VARS_FILE = os.path.join(STATE_DIR, "tls-vars.yml")
# The issuer's store on this machine, the management host (docs/tls.md "One store").
TLS_STORE = os.path.join(STATE_DIR, "tls-issuer")
TLS_LOCK_TABLE = "sandbox-tls-issuer-lock"


def tls_pair():
    """The first-converge hand-off of docs/tls.md: site.yml reads the pair tls.yml stored
    (issued by Pebble) on the controller, through lookups, and gives it to every proxy
    before Teleport starts there."""
    current = os.path.join(TLS_STORE, "current")
    return {
        "node_agent_tls_cert_pem": "{{ lookup('ansible.builtin.file', '%s/tls.crt') }}" % current,
        "node_agent_tls_key_pem": "{{ lookup('ansible.builtin.file', '%s/tls.key') }}" % current,
        "node_agent_tls_ca_pem": "{{ lookup('ansible.builtin.file', '%s/ca.crt') }}" % current,
    }


def write_tls_vars(state):
    """tls.yml's variables in the sandbox: the cluster name and its wildcard in the public
    zone, Pebble as the CA, every authoritative name server of the zone reached at the
    sandbox's CoreDNS (the Route 53 name servers do not exist here), and the lock table in
    moto, created on first use."""
    tls_vars = {
        "tls_issuer_domain": world.CLUSTER,
        "tls_issuer_route53_zone": world.ZONE,
        "tls_issuer_store_dir": TLS_STORE,
        "tls_issuer_lock_table": TLS_LOCK_TABLE,
        "tls_issuer_lock_region": world.REGIONS[0]["name"],
        "tls_issuer_lock_create_table": True,
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
    """Extra vars for site.yml in the sandbox: Teleport Enterprise (the double,
    with a test license) from the local release-style tarball through the role's
    tarball path, the proxies pointed at the (stand-in) auth address, and the
    proxy key pair handed to the play."""
    version, tarball, sha = build_double("enterprise")
    auth_server = auth_server_from_edge()
    with open(services.TOKEN_FILE) as f:
        inventory_token = f.read().strip()
    sandbox_vars = {
        "teleport_edition": "enterprise",
        "teleport_license_content": "{{ lookup('ansible.builtin.file', '%s') }}" % pki.test_license(os.path.join(STATE_DIR, "license.pem")),
        "teleport_version": version,
        "teleport_install_method": "tarball",
        "teleport_tarball_src": tarball,
        "teleport_tarball_sha256": sha,
        "teleport_storage_type": "dynamodb",
        "teleport_storage_region": world.REGIONS[0]["name"],
        "teleport_dynamodb_table_name": "sandbox-backend",
        "teleport_storage_audit_events_uri": ["dynamodb://sandbox-events"],
        "teleport_storage_audit_sessions_uri": "s3://sandbox-sessions/records",
        # What aws-edge.yml wrote: the auth NLB's DNS name, which the proxies resolve through
        # their region's DNS and reach through the NLB double.
        "teleport_auth_server": auth_server,
        # Teleport's IAM join, as on AWS: the proxies prove their instance profile (credentials from the
        # ec2-double's IMDS) with a signed sts:GetCallerIdentity, which the auth executes against moto's STS
        # through the one exception the Teleport double names (TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE).
        # No join secret exists anywhere.
        "teleport_join_method": "iam",
        "teleport_join_iam_allow": [{"aws_account": world.ACCOUNT_ID,
                                     "aws_arn": f"arn:aws:sts::{world.ACCOUNT_ID}:assumed-role/"
                                                f"{world.INSTANCE_PROFILES['proxy']}/i-*"}],
        "teleport_environment": (
            "{{ {'TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE': '%s'} if teleport_role == 'auth' else "
            "{'AWS_EC2_METADATA_SERVICE_ENDPOINT': %s[aws_region]} }}"
            % (world.sts_url(), json.dumps({r["name"]: world.imds_url(r["name"]) for r in world.REGIONS}))),
        "teleport_public_addr": [PUBLIC_ADDR],
        # How often Teleport re-reads its key pairs (default 1m): the node-agent confirms a rotation
        # once Teleport serves the new pair, so this bounds each region's hand-over in tls.yml.
        "teleport_https_keypairs_reload_interval": "5s",
        **tls_pair(),
        "node_agent_jar_src": os.path.join(services.ARTIFACTS, "node-agent.jar"),
        "node_agent_peers_inventory_url": f"{services.inventory_url()}/v1/peers",
        "node_agent_peers_inventory_ca_pem": "{{ lookup('ansible.builtin.file', '%s') }}" % services.INVENTORY_CA,
        "node_agent_peers_inventory_token": inventory_token,
        "node_agent_peers_probe_interval": "5s",
        "node_agent_peers_probe_timeout": "2s",
        "node_agent_peers_refresh_interval": "5s",
    }
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
        raise SandboxError(f"{aws.AUTH_SERVER_FILE}: teleport_auth_server {value!r} is not the auth NLB's DNS name "
                           "and port 3025; look at ansible-aws-edge.log")
    return value


def ansible_env(state):
    """site.yml's and upgrade.yml's environment: the inventory script, SSH, and AWS as moto
    with ELBv2 through the target health double (restart.yml drains and rejoins on it)."""
    env = aws.aws_env(state["moto"]["endpoint"])
    env.update({
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": state["edge"]["elbv2_double"]["endpoint"],
        # EC2 as the ec2-double answers it (console output from the hosts, moto for the rest).
        "AWS_ENDPOINT_URL_EC2": state["ec2_double"]["endpoint"],
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "TELEPORT_INVENTORY_URL": state["inventory"]["url"],
        "TELEPORT_INVENTORY_TOKEN_FILE": state["inventory"]["token_file"],
        "TELEPORT_INVENTORY_CA_FILE": services.INVENTORY_CA,
        "ANSIBLE_REMOTE_USER": "root",
        "ANSIBLE_PRIVATE_KEY_FILE": hosts.SSH_KEY,
        # The product's host-key strategy (docs/security.md): the inventory sets ansible_ssh_common_args, so SSH
        # checks every host against exactly the keys its console printed (the script as KnownHostsCommand).
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": os.path.join(REPO, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    })
    return env


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(state, name, *extra, book=SITE, vars_file=VARS_FILE):
    """Runs a playbook (site.yml unless told); returns {host: {ok, changed, ...}} of its recap.
    The full output goes to ansible-<name>.log."""
    logfile = os.path.join(STATE_DIR, f"ansible-{name}.log")
    t0 = time.monotonic()
    cmd = ["ansible-playbook", "-i", INVENTORY_SCRIPT, book, "-e", "@" + vars_file, *extra]
    what = f"{os.path.basename(book)} ({name})"
    log(f"{what}: {' '.join(cmd[1:])}")
    with open(logfile, "w") as out:
        p = subprocess.run(cmd, cwd=REPO, env=ansible_env(state), stdout=out, stderr=out, timeout=1800)
    with open(logfile) as f:
        text = f.read()
    recap = {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4])} for m in RECAP.findall(text)}
    took = time.monotonic() - t0
    if p.returncode != 0:
        raise SandboxError(f"{what} failed (exit {p.returncode}) after {took:.0f}s; log {logfile}:\n{text[-6000:]}")
    changed = sum(r["changed"] for r in recap.values())
    log(f"{what} passed in {took:.0f} s: changed={changed} over {len(recap)} hosts")
    state.setdefault("timings", {})[f"{os.path.splitext(os.path.basename(book))[0]}_{name}_seconds"] = round(took, 1)
    return recap


def tls_playbook(state, name, *extra):
    """tls.yml as the sandbox runs it, with tls-vars.yml only: the cluster's variables are site.yml's
    extra vars here, which would override the pair tls.yml hands each node-agent (include_role vars rank
    below extra vars). Without them tls.yml's publishing play would publish another configuration, and
    refuses to (cluster_config: no teleport_version), so it is skipped here and publish() runs
    cluster-config.yml with the cluster's variables, as an operator whose variables live elsewhere does."""
    return playbook(state, name, "--skip-tags", "cluster_config", *extra, book=TLS, vars_file=TLS_VARS_FILE)


def publish(state, name):
    """playbooks/cluster-config.yml with the cluster's variables (docs/boot.md)."""
    return playbook(state, name, book=CLUSTER_CONFIG)


def issue(state):
    """Step 1 of docs/tls.md's first converge: tls.yml issues into the store, no host touched."""
    write_tls_vars(state)
    # site.yml, next, publishes the whole configuration, the CA pin of the auth pool it starts included.
    recap = tls_playbook(state, "issue", "-e", "tls_issuer_distribute=false")
    # validate-inventory.yml's tasks count as ok on a host without connecting to it.
    touched = {h: r["changed"] for h, r in recap.items() if h != "localhost" and r["changed"]}
    if touched:
        raise SandboxError(f"tls.yml (issue) changed hosts, want none before site.yml: {touched}")
    meta = read_json(os.path.join(TLS_STORE, "current", "meta.json")) or {}
    log(f"tls.yml (issue): {', '.join(meta.get('names', []))} from {meta.get('source')}, "
        f"sha256 {meta.get('fingerprint_sha256', '?')[:16]}..., not after {meta.get('not_after')}")


def first_converge(state):
    """A new cluster, in docs/tls.md's order: tls.yml issues, then site.yml converges every
    host and hands the stored pair to each proxy before Teleport starts there."""
    issue(state)
    return playbook(state, "converge")


def second_run(state):
    """site.yml again with the version every host runs: changed=0 on every host. `sandbox test`
    runs it after the upgrade drill, with the version upgrade.yml moved the cluster to, so it
    also proves that upgrade.yml leaves each host exactly as site.yml makes it (right after the
    converge, the check-mode run and the region-loss drill's --limit run are the changed=0 runs)."""
    from . import drills
    running = set(drills.running_versions(state).values())
    if len(running) != 1 or None in running:
        raise SandboxError(f"second run: the hosts run {sorted(map(str, running))}, want one version")
    version = running.pop()
    with open(VARS_FILE) as f:
        configured = yaml.safe_load(f)["teleport_version"]
    extra = []
    if version != configured:
        _, tarball, sha = build_double("enterprise", version)
        extra = ["-e", json.dumps({"teleport_version": version, "teleport_tarball_src": tarball,
                                   "teleport_tarball_sha256": sha})]
    expect_no_change(playbook(state, "second-run", *ONE_BATCH, *extra), "second-run")
    log(f"site.yml with Teleport {version}, what every host runs: changed=0")


def expect_no_change(recap, name):
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    if changed:
        with open(os.path.join(STATE_DIR, f"ansible-{name}.log")) as f:
            tasks = sorted(set(re.findall(r"^((?:TASK|RUNNING HANDLER) \[[^\]]+\])[^\n]*\n(?:(?!TASK|RUNNING|PLAY)[^\n]*\n)*?changed:", f.read(), re.M)))
        raise SandboxError(f"site.yml ({name}) reported changes, want changed=0: {changed}; changed tasks: {tasks}")


def hostvars(state):
    """Every host's variables as Ansible reads them: the service sends each string as
    {"__ansible_unsafe": text} (docs/inventory-service.md, "Text from AWS is data")."""
    req = urllib.request.Request(state["inventory"]["url"] + "/v1/inventory")
    with open(services.TOKEN_FILE) as f:
        req.add_header("Authorization", "Bearer " + f.read().strip())
    with urllib.request.urlopen(req, timeout=10, context=services.inventory_tls()) as r:
        return _unsafe_as_text(json.load(r)["_meta"]["hostvars"])


def _unsafe_as_text(value):
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _unsafe_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsafe_as_text(v) for v in value]
    return value


def check_teleport_yaml(state):
    hv = {v["aws_instance_id"]: v for v in hostvars(state).values()}
    peers = {}
    for h in state["hosts"]:
        text = hosts.ssh(h, "cat /etc/teleport.yaml").stdout
        doc = yaml.safe_load(text)
        where = f"{h['machine']} /etc/teleport.yaml"
        # The double on the host validates it as strictly as Teleport.
        hosts.ssh(h, "/usr/local/bin/teleport configure --test /etc/teleport.yaml")
        want_auth, want_proxy = h["role"] == "auth", h["role"] == "proxy"
        problems = []
        if doc.get("version") != "v3":
            problems.append(f"version {doc.get('version')!r}")
        if bool(doc.get("auth_service", {}).get("enabled")) != want_auth:
            problems.append("auth_service.enabled")
        if bool(doc.get("proxy_service", {}).get("enabled")) != want_proxy:
            problems.append("proxy_service.enabled")
        if doc.get("ssh_service", {}).get("enabled") is not True:
            problems.append("ssh_service must be on (Teleport's HA guide, for VMs)")
        if not doc.get("teleport", {}).get("diag_addr"):
            problems.append("teleport.diag_addr missing")
        if want_auth:
            a = doc["auth_service"]
            if a.get("cluster_name") != world.CLUSTER:
                problems.append(f"auth_service.cluster_name {a.get('cluster_name')!r}")
            if a.get("tunnel_strategy", {}).get("type") != "proxy_peering":
                problems.append("auth_service.tunnel_strategy.type (Enterprise: proxy_peering)")
            if a.get("license_file") != "/var/lib/teleport/license.pem":
                problems.append("auth_service.license_file")
            if doc["teleport"].get("storage", {}).get("type") != "dynamodb":
                problems.append("teleport.storage.type")
        if want_proxy:
            p = doc["proxy_service"]
            peer = p.get("peer_public_addr")
            if peer != hv[h["instance_id"]]["teleport_peer_public_addr"]:
                problems.append(f"peer_public_addr {peer!r} != inventory {hv[h['instance_id']]['teleport_peer_public_addr']!r}")
            peers.setdefault(peer, []).append(h["machine"])
            if p.get("peer_listen_addr") != "0.0.0.0:3021":
                problems.append(f"peer_listen_addr {p.get('peer_listen_addr')!r}")
            kp = p.get("https_keypairs") or [{}]
            if kp[0].get("key_file") != "/etc/teleport-tls/tls.key" or kp[0].get("cert_file") != "/etc/teleport-tls/tls.crt":
                problems.append(f"https_keypairs {kp}")
            if not p.get("https_keypairs_reload_interval"):
                problems.append("https_keypairs_reload_interval missing")
            if not doc["teleport"].get("auth_server"):
                problems.append("teleport.auth_server missing")
            # Joined without a secret, pinned to the CA tctl status printed on an auth server.
            if doc["teleport"].get("join_params") != {"method": "iam", "token_name": "teleport-proxy-iam"}:
                problems.append(f"teleport.join_params {doc['teleport'].get('join_params')} (want the iam method)")
            if not doc["teleport"].get("ca_pin"):
                problems.append("teleport.ca_pin missing")
        if want_auth:
            # What the running process was started with (the unit takes it from its environment file).
            argv = hosts.ssh(h, "tr '\\0' ' ' </proc/$(systemctl show -p MainPID --value teleport)/cmdline").stdout
            if "--apply-on-startup /etc/teleport-resources.yaml" not in argv:
                problems.append(f"teleport runs as {argv.strip()!r}, without the proxies' provision token (--apply-on-startup)")
        if hosts.ssh(h, "test -e /var/lib/teleport/join-token", check=False).returncode == 0:
            problems.append("a join token is on disk (the iam method needs none)")
        if problems:
            raise SandboxError(f"{where}: " + "; ".join(problems))
    dup = {k: v for k, v in peers.items() if len(v) > 1}
    if dup:
        raise SandboxError(f"peer_public_addr not unique: {dup}")
    log(f"teleport.yaml as expected on {len(state['hosts'])} hosts; {len(peers)} unique peer_public_addr")


def check_units(state):
    for h in state["hosts"]:
        out = hosts.ssh(h, "systemctl is-active teleport node-agent", check=False).stdout.split()
        if out != ["active", "active"]:
            raise SandboxError(f"{h['machine']}: units teleport, node-agent are {out}, want active active")
    log("teleport and node-agent units active on every host")


def _peer_status(h):
    out = hosts.ssh(h, f"curl -sf http://{h['private_ip']}:{world.NODE_AGENT_PORT}/v1/peers/status", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def check_peers(state, timeout=120):
    proxies = [h for h in state["hosts"] if h["role"] == "proxy"]
    hv = {v["aws_instance_id"]: v for v in hostvars(state).values()}
    addr = {h["machine"]: hv[h["instance_id"]]["teleport_peer_public_addr"] for h in proxies}
    want = set(addr.values())

    def all_up():
        for h in proxies:
            status = _peer_status(h)
            if not status:
                return False
            up = {p["peer"] for p in status.get("peers", []) if p.get("up")}
            others = want - {addr[h["machine"]]}
            if not others <= up:
                return False
        return True
    wait_until(f"every proxy's node-agent to report the other {len(proxies) - 1} proxies up on 3021", all_up, timeout, 1)
    log(f"every node-agent reports every other proxy reachable across regions ({len(proxies)} proxies)")


def check_prometheus(state, timeout=90):
    n = len(state["hosts"])

    def scraped():
        res = services.prometheus_query(state, 'up{job="node-agent"}')
        return len(res) == n and all(r["value"][1] == "1" for r in res)
    wait_until(f"Prometheus to scrape all {n} node-agents through the inventory service's SD", scraped, timeout, 1)
    labels = services.prometheus_query(state, 'up{job="node-agent"}')[0]["metric"]
    for key in ("teleport_role", "aws_region", "aws_instance_id", "teleport_cluster"):
        if key not in labels:
            raise SandboxError(f"Prometheus target labels lack {key}: {labels}")
    log(f"Prometheus scrapes all {n} node-agents (up == 1) with the SD labels")


def _reloads(h, diag):
    metrics = hosts.ssh(h, f"curl -sf http://{diag}/metrics").stdout
    m = re.search(r"^teleport_test_double_reloads_total (\d+)$", metrics, re.M)
    if not m:
        raise SandboxError(f"{h['machine']}: no reload counter in the double's /metrics")
    return int(m.group(1))


def check_reload(state):
    """`systemctl reload teleport` reaches the double as SIGHUP (ExecReload) and
    it keeps running with the re-read config and key pairs."""
    h = next(x for x in state["hosts"] if x["role"] == "proxy")
    doc = yaml.safe_load(hosts.ssh(h, "cat /etc/teleport.yaml").stdout)
    diag = doc["teleport"]["diag_addr"].replace("0.0.0.0", "127.0.0.1")
    before = _reloads(h, diag)
    hosts.ssh(h, "systemctl reload teleport")
    wait_until(f"{h['machine']}: the double to count the SIGHUP reload", lambda: _reloads(h, diag) > before, 30, 0.5)
    if hosts.ssh(h, "systemctl is-active teleport", check=False).stdout.strip() != "active":
        raise SandboxError(f"{h['machine']}: teleport not active after a reload")
    log(f"systemctl reload teleport on {h['machine']}: SIGHUP re-read config and key pairs, unit still active")


def check_host_keys(state):
    """Every host has host keys of its own (ed25519, ECDSA, RSA), printed by cloud-init on its console
    (read through the ec2-double's GetConsoleOutput), and its sshd serves exactly those."""
    owners = {}
    for h in state["hosts"]:
        printed = ec2.host_keys(state, h)
        scan = run(["ssh-keyscan", "-T", "5", "-t", "ed25519,ecdsa,rsa", h["private_ip"]], check=False, timeout=30)
        served = sorted(" ".join(line.split()[1:3]) for line in scan.stdout.splitlines()
                        if line and not line.startswith("#"))
        if served != printed:
            raise SandboxError(f"{h['machine']}: sshd serves {[k[:40] for k in served]}, its console printed "
                               f"{[k[:40] for k in printed]}")
        types = sorted(k.split()[0] for k in printed)
        if types != ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]:
            raise SandboxError(f"{h['machine']}: host key types {types}, want ed25519, ECDSA and RSA (ssh_genkeytypes)")
        for k in printed:
            owners.setdefault(k, []).append(h["machine"])
    shared = {k[:40]: v for k, v in owners.items() if len(v) > 1}
    if shared:
        raise SandboxError(f"hosts share host keys (each instance must make its own at first boot): {shared}")
    log(f"every host's sshd serves exactly the 3 host keys its console printed; {len(owners)} keys, none shared")


def _imds(h, path, token=True):
    """What h's own request to its region's IMDS answers: (HTTP status, body). The body can hold
    credentials: never log it."""
    url = world.imds_url(h["region"])
    get = f"curl -s -w '\\n%{{http_code}}' {url}{path}"
    if token:
        get = (f"T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' {url}/latest/api/token) && "
               f"curl -s -w '\\n%{{http_code}}' -H \"X-aws-ec2-metadata-token: $T\" {url}{path}")
    p = hosts.ssh(h, get, check=False)
    if p.returncode != 0:
        raise SandboxError(f"{h['machine']}: IMDS request for {path} failed (exit {p.returncode})")
    body, _, status = p.stdout.rpartition("\n")
    return int(status.strip() or 0), body


def check_instance_identity(state):
    """From one host per pool: IMDSv2 only (a GET without a token is 401), the instance id and the
    pool's role from the ec2-double's IMDS; the role's credentials sign an sts:GetCallerIdentity that
    the STS forwarder (what the auth double's TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE names) takes to
    moto, which answers assumed-role/<role>/<instance id>, as EC2's instance profiles give."""
    seen = set()
    for h in state["hosts"]:
        if (h["role"], h["region"]) in seen:
            continue
        seen.add((h["role"], h["region"]))
        status, _ = _imds(h, "/latest/meta-data/instance-id", token=False)
        if status != 401:
            raise SandboxError(f"{h['machine']}: an IMDSv1 GET answered {status}, want 401 (HttpTokens=required)")
        status, iid = _imds(h, "/latest/meta-data/instance-id")
        if (status, iid) != (200, h["instance_id"]):
            raise SandboxError(f"{h['machine']}: IMDS instance-id {status} {iid!r}, want {h['instance_id']}")
        role = world.INSTANCE_PROFILES[h["role"]]
        status, roles = _imds(h, "/latest/meta-data/iam/security-credentials/")
        if (status, roles) != (200, role):
            raise SandboxError(f"{h['machine']}: IMDS iam/security-credentials/ {status} {roles!r}, want the role {role}")
        status, body = _imds(h, f"/latest/meta-data/iam/security-credentials/{role}")
        try:
            creds = json.loads(body) if status == 200 else None
        except ValueError:
            creds = None
        if not creds or creds.get("Type") != "AWS-HMAC" or creds.get("Code") != "Success":
            raise SandboxError(f"{h['machine']}: IMDS credentials of {role}: HTTP {status}, not the credentials document")
        status, arn, _ = ec2.get_caller_identity(state["ec2_double"]["sts"], creds, h["region"])
        want = f":assumed-role/{role}/{h['instance_id']}"
        if status != 200 or not (arn or "").endswith(want):
            raise SandboxError(f"{h['machine']}: GetCallerIdentity through the STS forwarder answered {status} {arn!r}, "
                               f"want arn:aws:sts::<account>{want}")
    log(f"IMDSv2 and the STS forwarder: {len(seen)} pools' hosts are their instance and their pool's role "
        "(assumed-role/<role>/<instance id>)")


def world_checks(state):
    """What can be checked without site.yml: every host answers SSH through the
    real inventory script (the double's own behaviour is tests/suites/30's), with the host
    keys its console printed; IMDS and the STS forwarder give each host its instance's identity."""
    check_host_keys(state)
    check_instance_identity(state)
    env = ansible_env(state)
    p = run(["ansible", "-i", INVENTORY_SCRIPT, "teleport", "-m", "ansible.builtin.ping", "-o"], env=env, cwd=REPO, timeout=300, check=False)
    if p.returncode != 0:
        raise SandboxError(f"ansible ping through the inventory script failed:\n{p.stdout[-3000:]}{p.stderr[-2000:]}")
    log(f"ansible reaches all {len(state['hosts'])} hosts through the inventory script")


# The runs that must change nothing take every pool in one batch: the batch size decides only
# how many hosts restart at once, and these runs restart none (any change fails them anyway).
# It halves their time; the first converge and every drill keep the roles' serial defaults.
ONE_BATCH = ("-e", "teleport_auth_serial=100%", "-e", "teleport_proxy_serial=100%")


def steps():
    """`sandbox test`'s checks after the converge, in order, by name (`--only` picks some)."""
    from . import drills, tlsdrill
    return [
        ("host-keys", check_host_keys),
        ("instance-identity", check_instance_identity),
        ("teleport-yaml", check_teleport_yaml),
        ("units", check_units),
        ("peers", check_peers),
        ("prometheus", check_prometheus),
        ("check-mode", lambda st: expect_no_change(playbook(st, "check-mode", "--check", *ONE_BATCH), "check-mode")),
        ("reload", check_reload),
        ("paths", drills.check_paths),
        ("auth-server", drills.check_auth_server),
        ("tls", tlsdrill.drill_tls),
        ("steering", drills.drill_steering),
        ("region-loss", drills.drill_region_loss),
        ("upgrade", drills.drill_upgrade),
        ("second-run", second_run),
        ("upgrade-failure", drills.drill_upgrade_failure),
    ]


def select(only):
    """The checks `--only` names (all when None), in their usual order; an unknown name is an error."""
    chosen = steps()
    if not only:
        return chosen
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    unknown = sorted(set(wanted) - {n for n, _ in chosen})
    if unknown:
        raise SandboxError(f"--only: unknown check(s) {', '.join(unknown)}; the checks are: "
                           + ", ".join(n for n, _ in chosen))
    return [(n, f) for n, f in chosen if n in wanted]


def run_all(state, args):
    if args.world_only:
        world_checks(state)
        return
    from . import drills
    chosen = select(getattr(args, "only", None))
    first_converge(state)
    for _, check in chosen:
        check(state)
    drills.write_figures()
    log("all checks passed")
