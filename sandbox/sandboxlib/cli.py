"""Subcommands of sandbox/sandbox."""
import argparse
import os
import shutil
import time

from . import aws, checks, ec2, edgeworld, hosts, network, services, world
from .util import REPO, STATE_DIR, SandboxError, alive, load_state, log, save_state, stop_pid


def up(args):
    if load_state():
        raise SandboxError(f"the sandbox is already up ({STATE_DIR}/state.json); run `sandbox/sandbox down` first")
    if os.geteuid() != 0:
        raise SandboxError("run as root: the sandbox creates bridges, mounts and containers")
    t0 = time.monotonic()
    os.makedirs(STATE_DIR, exist_ok=True)
    state = {"cluster": world.CLUSTER, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    save_state(state)
    try:
        base = hosts.rootfs()
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
        ec2.start(state, endpoint)
        save_state(state)
        hosts.boot_all(state, instances, base, ec2.console_reader(state))
        save_state(state)
        # Its config has one endpoint for every service: the ec2-double, which is moto for all
        # but EC2's GetConsoleOutput.
        services.start_inventory(state, state["ec2_double"]["endpoint"], len(instances))
        save_state(state)
        services.start_prometheus(state)
        save_state(state)
        services.start_pebble(state)
        save_state(state)
        checks.write_site_vars(state)
        checks.write_tls_vars(state)
    except BaseException:
        save_state(state)
        raise
    state["up_seconds"] = round(time.monotonic() - t0, 1)
    save_state(state)
    log(f"sandbox up in {state['up_seconds']} s")
    if getattr(args, "converge", False):
        checks.first_converge(state)
        save_state(state)
    print_env(state)
    return state


def print_env(state):
    inv = state.get("inventory", {})
    from . import edgeworld
    converged = "site_converge_seconds" in state.get("timings", {})
    print("\nThe sandbox is up" + (" and converged" if converged else "") + ".")
    print("Reach the cluster by name from a region's client network (its CoreDNS, public view, the region's NLB):")
    for r in world.REGIONS:
        print(f"  ip netns exec {r['netns']} curl --cacert {edgeworld.CA_FILE} https://{world.CLUSTER}/v1/webapi/ping")
    proxy = next((h for h in state.get("hosts", []) if h["role"] == "proxy"), None)
    if proxy:
        print("From a host inside a VPC (split DNS: the internal NLB; Pebble's root is in its trust store after site.yml):")
        print(f"  ssh -i {hosts.SSH_KEY} root@{proxy['private_ip']} curl -s https://{world.CLUSTER}/v1/webapi/ping")
    if not converged:
        print("Converge it first (or run `sandbox/sandbox up --converge`): with the exports below, tls.yml with")
        print("  -e tls_issuer_distribute=false issues the proxies' certificate into the store, then site.yml")
    print("Ansible against it:")
    print(f"  export TELEPORT_INVENTORY_URL={inv.get('url')} TELEPORT_INVENTORY_TOKEN_FILE={inv.get('token_file')} "
          f"TELEPORT_INVENTORY_CA_FILE={inv.get('ca_file')}")
    print(f"  export ANSIBLE_REMOTE_USER=root ANSIBLE_PRIVATE_KEY_FILE={hosts.SSH_KEY}"
          "   # host keys: checked against each console's, through the inventory")
    print("  export ANSIBLE_CONFIG=$PWD/ansible.cfg")
    moto = state.get("moto", {}).get("endpoint")
    elbv2 = state.get("edge", {}).get("elbv2_double", {}).get("endpoint")
    ec2_api = state.get("ec2_double", {}).get("endpoint")
    print(f"  export AWS_ENDPOINT_URL={moto} AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2={elbv2} AWS_ENDPOINT_URL_EC2={ec2_api} "
          f"AWS_ACCESS_KEY_ID={aws.CREDS['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY={aws.CREDS['AWS_SECRET_ACCESS_KEY']}")
    print("  ansible-playbook -i playbooks/inventory/teleport_inventory.py playbooks/site.yml -e @sandbox/state/site-vars.yml")
    print("  ansible-playbook -i playbooks/inventory/teleport_inventory.py playbooks/tls.yml -e @sandbox/state/tls-vars.yml"
          "   # renews when due (Pebble)")
    print(f"  ssh -i {hosts.SSH_KEY} -o UserKnownHostsFile={hosts.KNOWN_HOSTS} root@<private ip>"
          "      # hosts: sandbox/sandbox status; their keys as their consoles printed them")
    d = state.get("ec2_double", {})
    if d:
        print("  On the hosts (the ec2-double): AWS_EC2_METADATA_SERVICE_ENDPOINT="
              + ", ".join(f"{u} ({r})" for r, u in d.get("imds", {}).items())
              + f"; the auth's TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE={d.get('sts')}")
    print(f"  Prometheus: {state.get('prometheus', {}).get('url')}   moto: {state.get('moto', {}).get('endpoint')}")
    print("  sandbox/sandbox down")


def down(args=None):
    state = load_state() or {}
    t0 = time.monotonic()
    for key in ("acme", "prometheus", "inventory"):
        stop_pid(state.get(key, {}).get("pid"), key)
    hosts.down(state)
    ec2.stop(state)
    edgeworld.stop(state)
    network.down(state)
    stop_pid(state.get("moto", {}).get("pid"), "moto")
    if os.path.isdir(STATE_DIR):
        shutil.rmtree(STATE_DIR, ignore_errors=True)
    log(f"sandbox down in {time.monotonic() - t0:.1f} s")


def status(args=None):
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
        from . import edgeworld
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


def test(args):
    t0 = time.monotonic()
    checks.select(getattr(args, "only", None))  # a misspelt --only fails before anything starts
    if load_state():
        log("a previous sandbox is still up: taking it down first")
        down()
    try:
        state = up(args)
        checks.run_all(state, args)
    except BaseException:
        keep_logs()
        raise
    finally:
        if args.keep:
            log("--keep: leaving the sandbox up; `sandbox/sandbox down` removes it")
        else:
            down()
    log(f"sandbox test passed in {time.monotonic() - t0:.0f} s")
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


def main(argv):
    parser = argparse.ArgumentParser(prog="sandbox/sandbox", description="Local two-region Teleport HA sandbox.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="bring the sandbox up and leave it running")
    u.add_argument("--converge", action="store_true", help="also run site.yml (what `make sandbox` does)")
    sub.add_parser("down", help="tear the sandbox down (idempotent)")
    sub.add_parser("status", help="show what is running")
    t = sub.add_parser("test", help="up, site.yml and the checks, down")
    t.add_argument("--keep", action="store_true", help="leave the sandbox up afterwards, also on failure")
    t.add_argument("--only", metavar="CHECK,...",
                   help="after the converge, run only these checks, in their usual order (a developer's shortcut; "
                        "later drills expect the earlier ones' end state, e.g. upgrade wants every host on 17.7.1)")
    t.add_argument("--world-only", action="store_true",
                   help="check the world (hosts, SSH through the inventory, the double) without site.yml")
    lab = sub.add_parser("lab", help="a small world of N hosts on one bridge, for suites (prints JSON)")
    lab_sub = lab.add_subparsers(dest="lab_cmd", required=True)
    lab_up = lab_sub.add_parser("up")
    lab_up.add_argument("name")
    lab_up.add_argument("--hosts", type=int, default=1)
    lab_up.add_argument("--cidr", default="198.18.250.0/24")
    lab_sub.add_parser("down").add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            if load_state():
                # Checked here, before the teardown-on-failure below, so that a
                # second `up` never takes down the running sandbox.
                raise SandboxError(f"the sandbox is already up ({STATE_DIR}/state.json); run `sandbox/sandbox down` first")
            try:
                up(args)
            except BaseException:
                log("bring-up failed: tearing down what was started")
                down()
                raise
            return 0
        if args.cmd == "lab":
            from . import lab as labmod
            return labmod.main(args)
        return {"down": down, "status": status, "test": test}[args.cmd](args) or 0
    except SandboxError as e:
        log(f"FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
