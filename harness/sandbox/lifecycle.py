"""The sandbox's life: up (the world, and its first converge if asked), status, down, and the logs
kept when a test fails."""
import os
import shutil
import time

from .. import machines
from ..moto import DUMMY_CREDS
from ..util import REPO, HarnessError, alive, log, stop_pid
from . import aws, converge, ec2, edgeworld, network, services, world
from .state import CONSOLES, HOSTS_DIR, KNOWN_HOSTS, SSH_KEY, STATE_DIR, load_state, save_state


def up(converged=False):
    """Brings the world up (and converges it if asked); returns its state. Raises HarnessError if a
    sandbox is up already; what it started before a failure stays in state.json for down."""
    if load_state():
        raise HarnessError(f"the sandbox is already up ({STATE_DIR}/state.json); run `sandbox/sandbox down` first")
    if os.geteuid() != 0:
        raise HarnessError("run as root: the sandbox creates bridges, mounts and containers")
    t0 = time.monotonic()
    os.makedirs(STATE_DIR, exist_ok=True)
    state = {"cluster": world.CLUSTER, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    save_state(state)
    try:
        base = machines.rootfs()
        log(f"Debian root {base}")
        endpoint = aws.start_moto(state)
        save_state(state)
        instances = aws.seed(endpoint, state)
        state["instances"] = instances
        save_state(state)
        network.up(state)
        edgeworld.network_up(state)
        save_state(state)
        edgeworld.start(state, endpoint)
        save_state(state)
        edgeworld.start_security_groups(state, endpoint)
        save_state(state)
        ec2.start(state, endpoint)
        save_state(state)
        boot_all(state, instances, base)
        save_state(state)
        # Its config has one endpoint for every service: the ec2-double, which is moto for all
        # but EC2's GetConsoleOutput.
        services.start_inventory(state, state["ec2_double"]["endpoint"], len(instances))
        save_state(state)
        services.start_prometheus(state)
        save_state(state)
        services.start_pebble(state)
        save_state(state)
        converge.write_site_vars(state)
        converge.write_tls_vars(state)
    except BaseException:
        save_state(state)
        raise
    state["up_seconds"] = round(time.monotonic() - t0, 1)
    save_state(state)
    log(f"sandbox up in {state['up_seconds']} s")
    if converged:
        converge.first_converge(state)
        save_state(state)
    print_env(state)
    return state


def boot_all(state, instances, base):
    """Boots a host per instance, then waits for each to print its host keys (read as EC2's
    GetConsoleOutput gives them) and answer SSH with them."""
    state["hosts"] = []
    t0 = time.monotonic()
    for inst in instances:
        r = world.region(inst["region"])
        state["hosts"].append(dict(inst, **machines.boot(
            inst["machine"], inst["private_ip"], r["cidr"], r["gateway"], r["bridge"],
            inst["private_dns"].split(".")[0], base, SSH_KEY, HOSTS_DIR, KNOWN_HOSTS, nameserver=r["gateway"],
            instance_id=inst["instance_id"], consoles=CONSOLES)))
    machines.wait_ssh(state["hosts"], ec2.console_reader(state))
    state.setdefault("timings", {})["boot_to_ssh_seconds"] = round(time.monotonic() - t0, 1)
    log(f"{len(state['hosts'])} hosts booted, their host keys read from their consoles, reachable over SSH "
        f"in {time.monotonic() - t0:.1f} s")


def print_env(state):
    inv = state.get("inventory", {})
    converged = "converge_seconds" in state.get("timings", {})
    print("\nThe sandbox is up" + (" and converged" if converged else "") + ".")
    print("Reach the cluster by name from a region's client network (its CoreDNS, public view, the region's NLB):")
    for r in world.REGIONS:
        print(f"  ip netns exec {r['netns']} curl --cacert {edgeworld.CA_FILE} https://{world.CLUSTER}/v1/webapi/ping")
    proxy = next((h for h in state.get("hosts", []) if h["role"] == "proxy"), None)
    if proxy:
        print("From a host inside a VPC (split DNS: the internal NLB; Pebble's root is in its trust store after site.yml):")
        print(f"  ssh -i {SSH_KEY} root@{proxy['private_ip']} curl -s https://{world.CLUSTER}/v1/webapi/ping")
    if not converged:
        print("Converge it first (or run `sandbox/sandbox up --converge`): with the exports below, tls.yml with")
        print("  -e tls_issuer_distribute=false issues the proxies' certificate into the store, then site.yml")
    print("Ansible against it:")
    print(f"  export TELEPORT_INVENTORY_URL={inv.get('url')} TELEPORT_INVENTORY_TOKEN_FILE={inv.get('token_file')} "
          f"TELEPORT_INVENTORY_CA_FILE={inv.get('ca_file')}")
    print(f"  export ANSIBLE_REMOTE_USER=root ANSIBLE_PRIVATE_KEY_FILE={SSH_KEY}"
          "   # host keys: checked against each console's, through the inventory")
    print("  export ANSIBLE_CONFIG=$PWD/ansible.cfg")
    moto = state.get("moto", {}).get("endpoint")
    elbv2 = state.get("edge", {}).get("elbv2_double", {}).get("endpoint")
    ec2_api = state.get("ec2_double", {}).get("endpoint")
    print(f"  export AWS_ENDPOINT_URL={moto} AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2={elbv2} AWS_ENDPOINT_URL_EC2={ec2_api} "
          f"AWS_ACCESS_KEY_ID={DUMMY_CREDS['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY={DUMMY_CREDS['AWS_SECRET_ACCESS_KEY']}")
    print("  ansible-playbook -i playbooks/inventory/teleport_inventory.py playbooks/site.yml -e @sandbox/state/site-vars.yml")
    print("  ansible-playbook -i playbooks/inventory/teleport_inventory.py playbooks/tls.yml -e @sandbox/state/tls-vars.yml"
          "   # renews when due (Pebble)")
    print(f"  ssh -i {SSH_KEY} -o UserKnownHostsFile={KNOWN_HOSTS} root@<private ip>"
          "      # hosts: sandbox/sandbox status; their keys as their consoles printed them")
    d = state.get("ec2_double", {})
    if d:
        print("  On the hosts (the ec2-double): AWS_EC2_METADATA_SERVICE_ENDPOINT="
              + ", ".join(f"{u} ({r})" for r, u in d.get("imds", {}).items())
              + f"; the auth's TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE={d.get('sts')}")
    print(f"  Prometheus: {state.get('prometheus', {}).get('url')}   moto: {state.get('moto', {}).get('endpoint')}")
    print("  sandbox/sandbox down")


def down():
    state = load_state() or {}
    t0 = time.monotonic()
    for key in ("acme", "prometheus", "inventory"):
        stop_pid(state.get(key, {}).get("pid"), key)
    machines.down(state.get("hosts", []), HOSTS_DIR)
    ec2.stop(state)
    edgeworld.stop(state)
    network.down(state)
    stop_pid(state.get("moto", {}).get("pid"), "moto")
    if os.path.isdir(STATE_DIR):
        shutil.rmtree(STATE_DIR, ignore_errors=True)
    log(f"sandbox down in {time.monotonic() - t0:.1f} s")


def status():
    state = load_state()
    if not state:
        print("The sandbox is down.")
        return 1
    def mark(pid):
        return "running" if alive(pid) else "NOT RUNNING"
    print(f"cluster {state.get('cluster')}  started {state.get('started')}  (up took {state.get('up_seconds', '?')} s)")
    print(f"moto        {state.get('moto', {}).get('endpoint')}  {mark(state.get('moto', {}).get('pid'))}")
    print(f"inventory   {state.get('inventory', {}).get('url')}  {mark(state.get('inventory', {}).get('pid'))}")
    print(f"prometheus  {state.get('prometheus', {}).get('url')}  {mark(state.get('prometheus', {}).get('pid'))}")
    print(f"acme        {state.get('acme', {}).get('directory')} (Pebble)  {mark(state.get('acme', {}).get('pid'))}")
    delay = state.get("cross_region_delay_ms")
    print(f"network     {', '.join(state.get('bridges', []))}; cross-region delay "
          + (f"{delay} ms each way" if delay else "none (no netem in this kernel)"))
    d = state.get("ec2_double", {})
    if d:
        print(f"ec2-double  API {d.get('endpoint')}, IMDSv2 {', '.join(d.get('imds', {}).values())}, "
              f"STS forwarder {d.get('sts')}  {mark(d.get('pid'))}")
    edge = state.get("edge", {})
    if edge:
        print(f"edge        {edge.get('dir')}")
        for key, what in (("nlb_double", "NLB double (HAProxy)"), ("policy_double", "Route 53 policy double"),
                          ("coredns", "CoreDNS " + ", ".join(edge.get("coredns", {}).get("listen", []))),
                          ("elbv2_double", "ELBv2 target health double " + edge.get("elbv2_double", {}).get("endpoint", ""))):
            print(f"  {what:<58} {mark(edge.get(key, {}).get('pid'))}")
        nlb, policy = edgeworld.nlb_state(), edgeworld.policy_state()
        for lb in nlb.get("load_balancers", []):
            tgs = [tg for tg in nlb.get("target_groups", []) if tg["arn"] in {x["target_group_arn"] for x in lb["listeners"]}]
            targets = ", ".join(f"{t['id']}={t['state']}" for tg in tgs for t in tg["targets"])
            print(f"  {lb['region']:<13} {lb['name']:<18} {lb['address'] or '-':<15} {lb['dns_name']}  [{targets}]")
        for hc in policy.get("health_checks", {}).values():
            print(f"  Route 53 check {hc.get('fqdn')}: {'healthy' if hc.get('healthy') else 'UNHEALTHY'}")
        for v in policy.get("views", []):
            for ans in v.get("answers", []):
                print(f"  {('private ' if v['private'] else 'public ') + v['region']:<22} {ans['name']} -> "
                      f"{', '.join(ans['values'])} ({ans['reason']})")
        for r in world.REGIONS:
            print(f"  client namespace {r['netns']} {r['client_ip']} (resolver {r['gateway']})")
    for h in state.get("hosts", []):
        print(f"  {h['machine']:<12} {h['role']:<6} {h['region']:<13} {h['private_ip']:<13} {h['private_dns']:<28} {h['instance_id']}  {mark(h['pid'])}")
    return 0


def keep_logs():
    """Copies the logs out of the state dir (which down deletes) to build/sandbox-logs/."""
    dest = os.path.join(REPO, "build", "sandbox-logs", time.strftime("%Y%m%dT%H%M%S"))
    if not os.path.isdir(STATE_DIR):
        return
    for root, dirs, files in os.walk(STATE_DIR):
        # Never descend into the hosts' file systems or Prometheus' data.
        dirs[:] = [d for d in dirs if d not in ("merged", "upper", "work", "data", "artifacts", "ssh")]
        for name in files:
            if name.endswith(".log") or name in ("state.json", "inventory-service.yml", "prometheus.yml"):
                rel = os.path.relpath(os.path.join(root, name), STATE_DIR)
                os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
                shutil.copy2(os.path.join(root, name), os.path.join(dest, rel))
    log(f"logs kept in {dest}")
