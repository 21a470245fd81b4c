"""`sandbox test`'s checks of the converged world (docs/sandbox.md, "What `test` checks"): what each
host runs and how it is configured, the peers across regions, Prometheus through the inventory's SD,
a reload, the paths through DNS and the balancers, and the proxies' auth server. Each takes the
state and raises HarnessError naming the host and what differs."""
import json
import time
import urllib.request

from ..ansible import ansible
from ..host import NODE_AGENT_PORT, SESSION_CAPS
from ..util import HarnessError, log, run, wait_until
from . import aws, converge, ec2, edgeworld, plays, services, world
from .state import hosts


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


def _peer_addrs(state):
    """{instance id: teleport_peer_public_addr} as the inventory reports them."""
    return {v["aws_instance_id"]: v.get("teleport_peer_public_addr") for v in hostvars(state).values()}


def teleport_yaml(state):
    peer_addr = _peer_addrs(state)
    peers = {}
    for h in hosts(state):
        doc = h.teleport_yaml()
        where = f"{h.machine} /etc/teleport.yaml"
        # The double on the host validates it as strictly as Teleport.
        h.run("/usr/local/bin/teleport configure --test /etc/teleport.yaml")
        want_auth, want_proxy = h.role == "auth", h.role == "proxy"
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
            if peer != peer_addr[h.instance_id]:
                problems.append(f"peer_public_addr {peer!r} != inventory {peer_addr[h.instance_id]!r}")
            peers.setdefault(peer, []).append(h.machine)
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
            argv = h.teleport_argv()
            if "--apply-on-startup /etc/teleport-resources.yaml" not in argv:
                problems.append(f"teleport runs as {argv!r}, without the proxies' provision token (--apply-on-startup)")
        if h.exists("/var/lib/teleport/join-token"):
            problems.append("a join token is on disk (the iam method needs none)")
        if problems:
            raise HarnessError(f"{where}: " + "; ".join(problems))
    dup = {k: v for k, v in peers.items() if len(v) > 1}
    if dup:
        raise HarnessError(f"peer_public_addr not unique: {dup}")
    log(f"teleport.yaml as expected on {len(state['hosts'])} hosts; {len(peers)} unique peer_public_addr")


def units(state, region=None):
    """teleport and node-agent active on every host (of one region if given)."""
    for h in hosts(state, region=region):
        out = h.active("teleport", "node-agent")
        if out != ["active", "active"]:
            raise HarnessError(f"{h.machine}: units teleport, node-agent are {out}, want active active")
    log("teleport and node-agent units active on every host" + (f" of {region}" if region else ""))


def peers(state, timeout=120):
    proxies = hosts(state, role="proxy")
    peer_addr = _peer_addrs(state)
    want = {peer_addr[h.instance_id] for h in proxies}

    def all_up():
        for h in proxies:
            status = h.peer_status()
            if not status:
                return False
            up = {p["peer"] for p in status.get("peers", []) if p.get("up")}
            if not want - {peer_addr[h.instance_id]} <= up:
                return False
        return True
    wait_until(f"every proxy's node-agent to report the other {len(proxies) - 1} proxies up on 3021", all_up, timeout, 1)
    log(f"every node-agent reports every other proxy reachable across regions ({len(proxies)} proxies)")


def prometheus(state, timeout=90):
    """Every host's node-agent and Teleport (its diag_addr, the double's /metrics) are up in
    Prometheus through the inventory service's SD, with the same target labels."""
    n = len(state["hosts"])
    for job, what in (("node-agent", "node-agents"), ("teleport", "Teleport diag endpoints")):
        def scraped(job=job):
            res = services.prometheus_query(state, f'up{{job="{job}"}}')
            return len(res) == n and all(r["value"][1] == "1" for r in res)
        wait_until(f"Prometheus to scrape all {n} {what} through the inventory service's SD", scraped, timeout, 1)
    def sd_labels(job):
        """Each target's labels but job and instance, by instance id."""
        res = services.prometheus_query(state, f'up{{job="{job}"}}')
        return {r["metric"]["aws_instance_id"]: {k: v for k, v in r["metric"].items() if k not in ("job", "instance")}
                for r in res}
    agents, teleports = sd_labels("node-agent"), sd_labels("teleport")
    for labels in agents.values():
        missing = {"teleport_role", "aws_region", "aws_instance_id", "teleport_cluster"} - set(labels)
        if missing:
            raise HarnessError(f"Prometheus target labels lack {sorted(missing)}: {labels}")
    if agents != teleports:
        raise HarnessError(f"Teleport's target labels are not its node-agent's: {teleports} != {agents}")
    log(f"Prometheus scrapes all {n} node-agents and Teleports (up == 1) with the same SD labels")


def reload(state):
    """`systemctl reload teleport` reaches the double as SIGHUP (ExecReload) and
    it keeps running with the re-read config and key pairs."""
    h = hosts(state, role="proxy")[0]
    before = h.reloads()
    if before is None:
        raise HarnessError(f"{h.machine}: no reload counter in the double's /metrics")
    h.run("systemctl reload teleport")
    wait_until(f"{h.machine}: the double to count the SIGHUP reload", lambda: h.reloads() > before, 30, 0.5)
    if h.active("teleport") != ["active"]:
        raise HarnessError(f"{h.machine}: teleport not active after a reload")
    log(f"systemctl reload teleport on {h.machine}: SIGHUP re-read config and key pairs, unit still active")


def host_keys(state):
    """Every host has host keys of its own (ed25519, ECDSA, RSA), printed by cloud-init on its console
    (read through the ec2-double's GetConsoleOutput), and its sshd serves exactly those."""
    owners = {}
    for h in state["hosts"]:
        printed = ec2.host_keys(state, h)
        scan = run(["ssh-keyscan", "-T", "5", "-t", "ed25519,ecdsa,rsa", h["private_ip"]], check=False, timeout=30)
        served = sorted(" ".join(line.split()[1:3]) for line in scan.stdout.splitlines()
                        if line and not line.startswith("#"))
        if served != printed:
            raise HarnessError(f"{h['machine']}: sshd serves {[k[:40] for k in served]}, its console printed "
                               f"{[k[:40] for k in printed]}")
        types = sorted(k.split()[0] for k in printed)
        if types != ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]:
            raise HarnessError(f"{h['machine']}: host key types {types}, want ed25519, ECDSA and RSA (ssh_genkeytypes)")
        for k in printed:
            owners.setdefault(k, []).append(h["machine"])
    shared = {k[:40]: v for k, v in owners.items() if len(v) > 1}
    if shared:
        raise HarnessError(f"hosts share host keys (each instance must make its own at first boot): {shared}")
    log(f"every host's sshd serves exactly the 3 host keys its console printed; {len(owners)} keys, none shared")


def _imds(h, path, token=True):
    """What h's own request to its region's IMDS answers: (HTTP status, body). The body can hold
    credentials: never log it."""
    url = world.imds_url(h.region)
    get = f"curl -s -w '\\n%{{http_code}}' {url}{path}"
    if token:
        get = (f"T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' {url}/latest/api/token) && "
               f"curl -s -w '\\n%{{http_code}}' -H \"X-aws-ec2-metadata-token: $T\" {url}{path}")
    p = h.run(get, check=False)
    if p.returncode != 0:
        raise HarnessError(f"{h.machine}: IMDS request for {path} failed (exit {p.returncode})")
    body, _, status = p.stdout.rpartition("\n")
    return int(status.strip() or 0), body


def instance_identity(state):
    """From one host per pool: IMDSv2 only (a GET without a token is 401), the instance id and the
    pool's role from the ec2-double's IMDS; the role's credentials sign an sts:GetCallerIdentity that
    the STS forwarder (what the auth double's TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE names) takes to
    moto, which answers assumed-role/<role>/<instance id>, as EC2's instance profiles give."""
    seen = set()
    for h in hosts(state):
        if (h.role, h.region) in seen:
            continue
        seen.add((h.role, h.region))
        status, _ = _imds(h, "/latest/meta-data/instance-id", token=False)
        if status != 401:
            raise HarnessError(f"{h.machine}: an IMDSv1 GET answered {status}, want 401 (HttpTokens=required)")
        status, iid = _imds(h, "/latest/meta-data/instance-id")
        if (status, iid) != (200, h.instance_id):
            raise HarnessError(f"{h.machine}: IMDS instance-id {status} {iid!r}, want {h.instance_id}")
        role = world.INSTANCE_PROFILES[h.role]
        status, roles = _imds(h, "/latest/meta-data/iam/security-credentials/")
        if (status, roles) != (200, role):
            raise HarnessError(f"{h.machine}: IMDS iam/security-credentials/ {status} {roles!r}, want the role {role}")
        status, body = _imds(h, f"/latest/meta-data/iam/security-credentials/{role}")
        try:
            creds = json.loads(body) if status == 200 else None
        except ValueError:
            creds = None
        if not creds or creds.get("Type") != "AWS-HMAC" or creds.get("Code") != "Success":
            raise HarnessError(f"{h.machine}: IMDS credentials of {role}: HTTP {status}, not the credentials document")
        status, arn, _ = ec2.get_caller_identity(state["ec2_double"]["sts"], creds, h.region)
        want = f":assumed-role/{role}/{h.instance_id}"
        if status != 200 or not (arn or "").endswith(want):
            raise HarnessError(f"{h.machine}: GetCallerIdentity through the STS forwarder answered {status} {arn!r}, "
                               f"want arn:aws:sts::<account>{want}")
    log(f"IMDSv2 and the STS forwarder: {len(seen)} pools' hosts are their instance and their pool's role "
        "(assumed-role/<role>/<instance id>)")


def world_checks(state):
    """What can be checked without site.yml: every host answers SSH through the
    real inventory script (the double's own behaviour is tests/suites/30's), with the host
    keys its console printed; IMDS and the STS forwarder give each host its instance's identity."""
    host_keys(state)
    instance_identity(state)
    p = ansible("ansible", "-i", plays.INVENTORY_SCRIPT, "teleport", "-m", "ansible.builtin.ping", "-o",
                env=plays.hosts_env(state))
    if p.returncode != 0:
        raise HarnessError(f"ansible ping through the inventory script failed:\n{p.stdout[-3000:]}{p.stderr[-2000:]}")
    log(f"ansible reaches all {len(state['hosts'])} hosts through the inventory script")


def paths(state):
    """Per region, from the client namespace (public view) and from a host (inside the VPC:
    split DNS): the cluster name and a wildcard resolve to the region's balancer, and the
    ping through it is answered by a proxy of the region (HAProxy's per-server sessions).
    The hosts trust Pebble's root through their system store (the node_agent role puts it
    there), the namespace through --cacert."""
    for r in world.REGIONS:
        pub, internal = edgeworld.nlb_dns(r["name"], "proxy"), edgeworld.nlb_dns(r["name"], "proxy-int")
        for name in (world.CLUSTER, f"app1.{world.CLUSTER}"):
            got = _ns(r, "dig", "+short", name).stdout.split()
            if got != [pub + ".", r["nlb"]["proxy"]]:
                raise HarnessError(f"{r['netns']}: {name} resolves to {got}, want {pub}. {r['nlb']['proxy']} "
                                   f"(the {r['name']} proxy NLB); see {edgeworld.LAYOUT.policy_state}")
        proxies = hosts(state, role="proxy", region=r["name"])
        machines = {h.machine for h in proxies}
        backend = edgeworld.backend(r["name"], "proxy")
        before = edgeworld.sessions()
        for _ in range(4):
            p = _ns(r, "curl", "-sS", "--cacert", edgeworld.CA_FILE, "-o", "/dev/null", "-w", "%{http_code} %{remote_ip}",
                    f"https://{world.CLUSTER}/v1/webapi/ping")
            if p.stdout.strip() != f"200 {r['nlb']['proxy']}":
                raise HarnessError(f"{r['netns']}: curl https://{world.CLUSTER}/v1/webapi/ping: {p.stdout.strip()} {p.stderr.strip()}")
        served = edgeworld.served_by(state, backend, before, edgeworld.sessions())
        if not served or not set(served) <= machines or sum(served.values()) < 4:
            raise HarnessError(f"{r['netns']}: pings through {backend} answered by {served}, want only {sorted(machines)}")
        log(f"{r['name']} client namespace: {world.CLUSTER} and app1.{world.CLUSTER} -> {pub} ({r['nlb']['proxy']}); "
            f"4 pings answered by {served}")
        h = proxies[-1]  # a host whose trust store holds Pebble's root
        for name in (world.CLUSTER, f"app1.{world.CLUSTER}"):
            got = h.resolve(name)
            if got != r["nlb"]["proxy-int"]:
                raise HarnessError(f"{h.machine}: {name} resolves to {got!r}, want {r['nlb']['proxy-int']} "
                                   f"({internal}, split DNS inside the VPC)")
        backend = edgeworld.backend(r["name"], "proxy-int")
        before = edgeworld.sessions()
        code = h.run(f"for i in 1 2 3 4; do curl -sS -o /dev/null -w '%{{http_code}}\\n' "
                     f"https://{world.CLUSTER}/v1/webapi/ping; done").stdout.split()
        served = edgeworld.served_by(state, backend, before, edgeworld.sessions())
        if code != ["200"] * 4 or not served or not set(served) <= machines:
            raise HarnessError(f"{h.machine}: pings through {internal}: {code}, answered by {served}")
        log(f"{h.machine} (inside the {r['name']} VPC): {world.CLUSTER} -> {internal} ({r['nlb']['proxy-int']}); "
            f"4 pings answered by {served}")


def auth_server(state):
    """The proxies' teleport.auth_server is the auth NLB's name, which they resolve through
    their region's DNS and reach through the balancer (HAProxy's auth backend)."""
    value = converge.auth_server_from_edge()
    name = value.rsplit(":", 1)[0]
    want_ip = world.REGIONS[0]["nlb"]["auth"]
    for h in hosts(state, role="proxy"):
        got = h.teleport_yaml()["teleport"].get("auth_server")
        if got != value:
            raise HarnessError(f"{h.machine}: teleport.auth_server {got!r}, want {value!r}")
        got = h.resolve(name)
        if got != want_ip:
            raise HarnessError(f"{h.machine}: {name} resolves to {got!r}, want the auth NLB {want_ip}")
    backend = edgeworld.backend(world.REGIONS[0]["name"], "auth")
    sessions = {s: n for (be, s), n in edgeworld.sessions().items() if be == backend and s not in ("BACKEND", "FRONTEND")}
    if sum(sessions.values()) == 0:
        raise HarnessError(f"no connection went through the auth NLB's backend {backend}: {sessions}")
    log(f"every proxy: auth_server {value}, resolved to {want_ip} through DNS; {sum(sessions.values())} connections "
        f"forwarded by {backend}")


def _ns(region, *cmd, timeout=30):
    """A command in the region's client namespace (its resolver, the internet's view)."""
    return run(["ip", "netns", "exec", region["netns"], *cmd], check=False, timeout=timeout)


# --- security groups on the wire (the security-group double) ---------------------------------------
HAND_RULE = "a bastion's scrape, added by hand (sandbox check): aws-edge.yml must keep it"


def _probe(h, ip, port):
    """From host h: 'open', 'refused' (nothing listens; the packet arrived) or 'dropped' (no answer in 3 s)."""
    rc = h.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>/dev/null; echo $?", check=False).stdout.strip()
    return {"0": "open", "1": "refused", "124": "dropped"}.get(rc, f"rc {rc}")


def _proxy_group(state, region):
    from ..moto import client
    ec2 = client("ec2", region, state["moto"]["endpoint"])
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{world.SHORT_NAME}-proxy"]}])
    return ec2, groups["SecurityGroups"][0]


def security_groups(state):
    """Every instance and load balancer is enforced with no error; what a rule opens passes (a proxy to an
    auth host's SSH Service on 3022, admitted by naming the proxies' group; the controller's SSH and
    Prometheus's scrapes, which every check so far needed), and what no rule opens is dropped: a proxy
    to another proxy's node-agent (9810, listening, open to this machine only). Then a rule added by
    hand (a bastion's scrape) opens it within the double's cycle; security-groups-kept checks that
    aws-edge.yml (steering) kept it."""
    sg = edgeworld.sg_state()
    enforced = sg.get("enforced", {})
    want = {h["private_ip"] for h in state["hosts"]} | {ip for r in world.REGIONS for ip in r["nlb"].values()}
    if want - set(enforced) or sg.get("errors"):
        raise HarnessError(f"security-group double: not enforced {sorted(want - set(enforced))}; errors {sg.get('errors')}")
    region = world.REGIONS[0]["name"]
    p0, p1 = hosts(state, role="proxy", region=region)[:2]
    auth = hosts(state, role="auth")[0]
    if not auth.listening(3022):
        raise HarnessError(f"{auth.machine}: nothing listens on 3022 although teleport_ssh_service_enabled is true")
    got = _probe(p0, auth.ip, 3022)
    if got != "open":
        raise HarnessError(f"{p0.machine} -> {auth.machine}:3022 (the SSH Service, admitted from {world.SHORT_NAME}-proxy): {got}")
    # A session through that rule, as a proxy asks for one on a user's behalf: it runs as its login, with no
    # more than the unit's bounding set (roles/teleport's SSH Service drop-in).
    status, answer = auth.session(via=p0, login="root", command="id -u; grep ^CapBnd /proc/self/status")
    lines = answer.get("output", "").split()
    if status != 200 or lines[:1] != ["0"] or lines[2:3] != [f"{SESSION_CAPS:016x}"]:
        raise HarnessError(f"{p0.machine} -> {auth.machine}:3022: a root session answered {status} {answer}; "
                           f"want uid 0 with the bounding set {SESSION_CAPS:016x}")
    if not p1.listening(NODE_AGENT_PORT) or p1.peer_status() is None:
        raise HarnessError(f"{p1.machine}: its node-agent does not answer on {NODE_AGENT_PORT}")
    since = time.time()
    got = _probe(p0, p1.ip, NODE_AGENT_PORT)
    if got != "dropped":
        raise HarnessError(f"{p0.machine} -> {p1.machine}:{NODE_AGENT_PORT}: {got}; no rule admits a proxy there, "
                           "so EC2 would drop it")
    flow = (p0.ip, p1.ip, "tcp", str(NODE_AGENT_PORT))
    wait_until(f"the security-group double to log the dropped flow {flow}", lambda: flow in edgeworld.sg_dropped(since), 15, 0.5)
    ec2, g = _proxy_group(state, region)
    ec2.authorize_security_group_ingress(GroupId=g["GroupId"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": NODE_AGENT_PORT, "ToPort": NODE_AGENT_PORT,
        "IpRanges": [{"CidrIp": f"{p0.ip}/32", "Description": HAND_RULE}]}])
    t0 = time.monotonic()
    wait_until(f"{p0.machine} -> {p1.machine}:{NODE_AGENT_PORT} to pass once a rule admits it", lambda: _probe(p0, p1.ip, NODE_AGENT_PORT) == "open", 30, 0.5)
    state["hand_rule"] = {"region": region, "group": g["GroupId"], "from": p0.machine, "to": p1.machine}
    log(f"security groups enforced on {len(enforced)} addresses: {p0.machine} -> {auth.machine}:3022 open, "
        f"{p0.machine} -> {p1.machine}:{NODE_AGENT_PORT} dropped and logged, open {time.monotonic() - t0:.1f} s after a rule "
        "added by hand admitted it")


def security_groups_kept(state):
    """After aws-edge.yml ran (steering off and back): the rule added by hand is still in the group and still
    lets the flow through. aws-edge.yml with the SSH Service off: a proxy's flow to an auth host's 3022 is
    dropped, the hand rule still admits its flow; on again: 3022 passes. The hand rule revoked: its flow is
    dropped again."""
    hand = state.get("hand_rule")
    if not hand:
        raise HarnessError("security-groups-kept needs the security-groups check before it (--only both)")
    ec2, g = _proxy_group(state, hand["region"])
    kept = [p for p in g["IpPermissions"] for r in p.get("IpRanges", []) if r.get("Description") == HAND_RULE]
    if len(kept) != 1:
        raise HarnessError(f"{g['GroupName']}: the rule added by hand is gone after aws-edge.yml: {g['IpPermissions']}")
    by_name = {h.machine: h for h in hosts(state)}
    src, dst = by_name[hand["from"]], by_name[hand["to"]]
    got = _probe(src, dst.ip, NODE_AGENT_PORT)
    if got != "open":
        raise HarnessError(f"{src.machine} -> {dst.machine}:{NODE_AGENT_PORT} after aws-edge.yml: {got}, want open")
    # The SSH Service off: aws-edge.yml revokes the 3022 rules (and keeps the hand rule); on again, they return.
    auth = hosts(state, role="auth")[0]
    aws.playbook(state, "aws-edge.yml", "ssh-service-off", "-e", json.dumps({"teleport_ssh_service_enabled": False}))
    wait_until(f"{src.machine} -> {auth.machine}:3022 to be dropped with the SSH Service off",
               lambda: _probe(src, auth.ip, 3022) == "dropped", 30, 0.5)
    if _probe(src, dst.ip, NODE_AGENT_PORT) != "open":
        raise HarnessError("the rule added by hand stopped admitting its flow after aws-edge.yml with the SSH Service off")
    aws.playbook(state, "aws-edge.yml", "ssh-service-on")
    wait_until(f"{src.machine} -> {auth.machine}:3022 to pass again with the SSH Service on",
               lambda: _probe(src, auth.ip, 3022) == "open", 30, 0.5)
    ec2.revoke_security_group_ingress(GroupId=hand["group"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": NODE_AGENT_PORT, "ToPort": NODE_AGENT_PORT, "IpRanges": [{"CidrIp": f"{src.ip}/32"}]}])
    wait_until(f"{src.machine} -> {dst.machine}:{NODE_AGENT_PORT} to be dropped once the rule is revoked",
               lambda: _probe(src, dst.ip, NODE_AGENT_PORT) == "dropped", 30, 0.5)
    log("the rule added by hand survived four aws-edge.yml runs (steering off and back, the SSH Service off and on) and "
        "was enforced throughout; 3022 from the proxies was dropped with the SSH Service off and open again with it on; "
        "the hand rule revoked, its flow is dropped")
