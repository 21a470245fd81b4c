#!/usr/bin/env python3
"""An instance launched from the baked image configures itself (tests/suites/45-packer-bake.sh runs this after
its bake; docs/boot.md, "Proven here").

The image is the bake host's own layer over the Debian root (what an AMI holds). The world on the bake lab's
bridge: moto (loopback), the ec2-double in front of it with its Auto Scaling lifecycle double (Pending:Wait,
CompleteLifecycleAction, Terminating:Wait) and IMDSv2 on the bridge, and the ec2-launch-double (harness/launcher.py)
booting a host for each instance moto holds, with the instance's user data run by real cloud-init. What runs
on the instance is the product: cloud-init, teleport-ha-boot, ansible-playbook with the roles, systemd,
Teleport (the double) and the node-agent. In order:

  1. aws-pools.yml makes the auth pool (its launch template's user data, its lifecycle hooks) and
     cluster-config.yml publishes what a new auth host gets;
  2. the group's instance boots, cloud-init runs its user data, teleport-ha-boot converges it and completes
     the launch hook: the instance goes Pending:Wait -> InService, timed from launch;
  3. site.yml from this controller on the same host: changed=0 (boot and site.yml configure a host alike);
  4. a parameter changed by hand (its digest no longer matches): the next launch is ABANDONed with the reason
     on its console, never InService, and the group launches again; publishing again heals the pool;
  5. TerminateInstanceInAutoScalingGroup: Terminating:Wait, the drain stops Teleport and completes the
     terminate hook, and the machine is powered off.

  python tests/boot/launch_image.py --lab NAME --work DIR

Prints one line per check (ok/FAIL) with its figure; exits 1 when a check failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from harness import lab, machines
from harness.ansible import ansible_env, run_playbook
from harness.aws_world import operator_world, role_vars
from harness.host import Host
from harness.hostkeys import console_output
from harness.launcher import Launcher
from harness.moto import MotoServer, aws_env, client
from harness.util import REPO, HarnessError, alive, free_port, spawn, stop_pid, tcp_open, venv_python, wait_until

CLUSTER = "tpboot.example.com"
SHORT = "tpboot"
REGION = "us-west-2"
ZONE = "example.com"
GROUP = f"{SHORT}-auth-{REGION}"
PROFILE = f"{SHORT}-auth"
RESULTS = {"passed": 0, "failed": 0}
# Instances this world boots at most: a boot that keeps failing makes the group replace its instance every few
# seconds here (a host boots in seconds), and the launcher stops that loop with an error naming it.
MAX_LAUNCHES = 12


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok and detail:
        for line in str(detail).splitlines()[-40:]:
            print("     " + line, flush=True)
    return ok


class World:
    """moto, the ec2-double with its lifecycle double on the lab's bridge, and the launcher."""

    def __init__(self, state, work, image):
        self.work, self.state = work, state
        gw = state["gateway"]
        self.moto = MotoServer(log_path=os.path.join(work, "moto.log")).start()
        api_port, imds_port = free_port(gw), free_port(gw)
        self.api = f"http://{gw}:{api_port}"
        self.imds = f"http://{gw}:{imds_port}"
        consoles = os.path.join(work, "consoles")
        os.makedirs(consoles, exist_ok=True)
        self.double_log = os.path.join(work, "ec2-double.log")
        self.double = spawn([venv_python(), "-m", "harness.edge.ec2_double", "--endpoint-url", self.moto.endpoint,
                             "--listen", f"{gw}:{api_port}", "--consoles", consoles,
                             f"--imds={REGION}={gw}:{imds_port}", "--reconcile-interval", "2",
                             "--autoscaling-lifecycle"],
                            self.double_log, env=aws_env(self.moto.endpoint))

        def up():
            if not alive(self.double):
                raise HarnessError(f"the ec2-double exited; its log: {self.double_log}")
            return tcp_open(gw, api_port) and tcp_open(gw, imds_port)
        wait_until("the ec2-double", up, 30, 0.2)
        # What the instance's SDKs are pointed at here (EC2's regional endpoints and 169.254.169.254 there):
        # written by the hypervisor, not by the product; root-only, as the kit reads it.
        env = f"AWS_ENDPOINT_URL={self.api}\nAWS_EC2_METADATA_SERVICE_ENDPOINT={self.imds}\n"
        net = {"bridge": state["bridge"], "cidr": state["cidr"], "gateway": gw}
        self.launcher = Launcher(self.api, REGION, net, machines.rootfs(), image, state["ssh_key"],
                                 os.path.join(work, "instances"), os.path.join(work, "known_hosts"), consoles,
                                 groups=[GROUP], files={"/etc/teleport-ha/environment": (env, 0o600)}, limit=MAX_LAUNCHES)

    def client(self, service):
        return client(service, REGION, self.api)

    def lifecycle(self):
        """{instance id: LifecycleState} of the group, as Auto Scaling (the double) answers."""
        groups = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
        return {i["InstanceId"]: i["LifecycleState"] for g in groups for i in g.get("Instances", [])}

    def console(self, iid):
        return console_output(self.api, REGION, iid)

    def stop(self):
        self.launcher.down()
        stop_pid(self.double, "ec2-double")
        self.moto.stop()


def wait_state(world, what, predicate, timeout, launch_too=True):
    """Polls the group's lifecycle states (launching hosts for new instances meanwhile) until predicate
    holds; returns its value."""
    def step():
        if launch_too:
            world.launcher.reconcile()
        return predicate(world.lifecycle())
    return wait_until(what, step, timeout, 1.0)


def main(argv):
    a = argparse.ArgumentParser()
    a.add_argument("--lab", required=True)
    a.add_argument("--work", required=True)
    args = a.parse_args(argv)
    work = os.path.abspath(args.work)
    state = lab.load(args.lab)
    if not state:
        sys.exit(f"launch_image: lab {args.lab} is not up")
    bake_host = state["hosts"][0]
    Host(bake_host).power_off()
    t0 = time.monotonic()
    image = machines.save_image(bake_host, os.path.join(work, "image"))
    size = subprocess.run(["du", "-sm", image], capture_output=True, text=True).stdout.split()[0]
    check(f"the bake host's layer saved as the image ({size} MiB, {time.monotonic() - t0:.0f} s)", True)

    double = subprocess.run(["bash", os.path.join(REPO, "tests/teleport-double/build.sh")], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    with open(os.path.join(double, "VERSION")) as f:
        version = f.read().strip()
    tarball = os.path.join(double, f"teleport-v{version}-linux-amd64-bin.tar.gz")
    with open(tarball + ".sha256") as f:
        sha = f.read().split()[0]
    inventory_jar = os.path.join(REPO, "inventory-service/target/inventory-service.jar")

    world = World(state, work, image)
    try:
        return run(world, work, version, tarball, sha, inventory_jar, state)
    finally:
        world.stop()
        print(f"launch-image: {RESULTS['passed']} passed, {RESULTS['failed']} failed", flush=True)


def run(world, work, version, tarball, sha, inventory_jar, state):
    made = operator_world(world.moto, CLUSTER, {REGION: state["cidr"]}, ZONE, zones=("a",), instance_profiles=[PROFILE])
    cluster = role_vars(CLUSTER, REGION, made, ZONE, aws_cluster_short_name=SHORT,
                        aws_pools_auth_instance_profile=PROFILE,
                        aws_pools_auth_min_size=1, aws_pools_auth_max_size=2, aws_pools_auth_desired_capacity=1,
                        aws_pools_proxy_min_size=0, aws_pools_proxy_max_size=1, aws_pools_proxy_desired_capacity=0,
                        aws_pools_drain_seconds=2, aws_pools_termination_hook_timeout=60,
                        teleport_version=version, teleport_tarball_sha256=sha, teleport_tarball_src=tarball,
                        teleport_storage_type="dynamodb", teleport_storage_region=REGION,
                        teleport_dynamodb_table_name=f"{SHORT}-backend",
                        teleport_join_iam_allow=[{"aws_account": "123456789012"}],
                        node_agent_jar_src=os.path.join(REPO, "node-agent/target/node-agent.jar"),
                        teleport_health_timeout=120)
    vars_file = os.path.join(work, "cluster-vars.json")
    with open(vars_file, "w") as f:
        json.dump(cluster, f)
    env = ansible_env(aws=world.moto.endpoint, AWS_REGION=REGION)
    r = run_playbook("aws-pools.yml", None, vars_file, log=os.path.join(work, "aws-pools.log"), env=env)
    if not check(f"aws-pools.yml made the auth pool with its hooks and user data ({r.seconds:.0f} s)", r.rc == 0, r.tail()):
        return 1
    r = run_playbook("cluster-config.yml", None, vars_file, log=os.path.join(work, "publish.log"), env=env)
    if not check(f"cluster-config.yml published the auth pool's configuration ({r.seconds:.0f} s)", r.rc == 0, r.tail()):
        return 1

    # --- 2. the group's instance configures itself -------------------------------------------------------
    # The launcher starts with the publication done: EC2 takes tens of seconds to boot an instance, and an
    # instance that booted before it would be ABANDONed (config_missing) and replaced (step 4 shows that path).
    t0 = time.monotonic()
    first = wait_state(world, "the first instance to be Pending:Wait",
                       lambda s: [i for i, st in s.items() if st == "Pending:Wait"] or None, 60)[0]
    check(f"the group's instance {first} waits in Pending:Wait (the launch hook), never InService before ready",
          world.lifecycle().get(first) == "Pending:Wait")
    try:
        wait_state(world, f"{first} InService", lambda s: s.get(first, "gone") not in ("Pending:Wait", "Pending"), 900)
    except HarnessError as e:
        check("teleport-ha-boot configured the instance", False, f"{e}\n{world.console(first)[-6000:]}")
        return 1
    took = time.monotonic() - t0
    state_now = world.lifecycle().get(first, "gone (terminated)")
    if not check(f"cloud-init ran the user data; teleport-ha-boot converged the host and completed the launch hook: "
                 f"launch to InService {took:.0f} s", state_now == "InService",
                 f"state {state_now}\n{world.console(first)[-6000:]}"):
        return 1
    h = world.launcher.hosts[first]
    machines.wait_ssh([h], lambda h: world.console(h["instance_id"]))
    host = Host(h)
    ran = host.run("systemctl is-active teleport node-agent && /usr/local/bin/teleport version", check=False)
    check(f"Teleport {version} and the node-agent run on it", ran.returncode == 0 and f"v{version}" in ran.stdout,
          ran.stdout + ran.stderr)

    # --- 3. site.yml on the same host: changed=0 ---------------------------------------------------------
    with open(os.path.join(work, "inv.yml"), "w") as f:
        f.write(f"cluster: {CLUSTER}\nregions: [{REGION}]\n")
    found = subprocess.run(["java", "-jar", inventory_jar, "host", "--config", os.path.join(work, "inv.yml"),
                            "--instance-id", first], capture_output=True, text=True, env=world.moto.env(), timeout=300)
    if not check("the inventory service names the instance (its host mode)", found.returncode == 0, found.stderr):
        return 1
    named = json.loads(found.stdout)
    hostvars = dict(named["hostvars"], ansible_host=h["private_ip"], ansible_user="root",
                    ansible_ssh_private_key_file=state["ssh_key"])
    inventory = {
        "_meta": {"hostvars": {named["name"]: hostvars}},
        "all": {"vars": {"teleport_inventory_cluster": CLUSTER, "teleport_inventory_regions": [REGION],
                         "teleport_inventory_stale_regions": [], "teleport_inventory_excluded": []},
                "children": ["teleport"]},
        "teleport": {"children": ["teleport_auth"]},
        "teleport_auth": {"hosts": [named["name"]]}}
    # As an inventory script, as playbooks/inventory/teleport_inventory.py gives it: Ansible's script plugin
    # reads the service's {"__ansible_unsafe": ...} values as unsafe strings (a YAML inventory would not).
    inventory_script = os.path.join(work, "inventory.sh")
    with open(inventory_script, "w") as f:
        f.write("#!/bin/sh\n# The inventory service's answer for the launched instance (tests/boot/launch_image.py).\n"
                "cat <<'EOF'\n" + json.dumps(inventory) + "\nEOF\n")
    os.chmod(inventory_script, 0o700)
    site_env = ansible_env(aws=world.moto.endpoint, ssh="unchecked", AWS_REGION=REGION)
    r = run_playbook("site.yml", inventory_script, vars_file, log=os.path.join(work, "site.log"), env=site_env)
    on_it = [line for line in r.text.splitlines() if line.startswith("changed:") and "-> localhost]" not in line]
    check(f"site.yml on the self-configured host changes nothing on it ({r.seconds:.0f} s): boot and site.yml agree",
          r.rc == 0 and on_it == [], "\n".join(on_it) + "\n" + r.tail(3000))

    # --- 4. a broken publication: ABANDON, never in service; publishing again heals the pool --------------
    broken_launches(world, env, vars_file, work, first)

    # --- 5. termination: Terminating:Wait, the drain, power-off -------------------------------------------
    asg = world.client("autoscaling")
    t0 = time.monotonic()
    asg.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    check("TerminateInstanceInAutoScalingGroup: the instance waits in Terminating:Wait (the terminate hook)",
          world.lifecycle().get(first, "").startswith("Terminating"), world.lifecycle())
    try:
        wait_state(world, f"{first} to leave the group", lambda s: first not in s, 120)
        gone = True
    except HarnessError as e:
        gone = False
        check("the drain completed the terminate hook", False, f"{e}\n{world.console(first)[-3000:]}")
    if gone:
        wait_until(f"{first}'s machine powered off", lambda: (world.launcher.reconcile() and False)
                   or not Host(h).running(), 60, 0.5)
        journal = subprocess.run(["journalctl", "-D", os.path.join(h["merged"], "var/log/journal"), "-u",
                                  "teleport-ha-lifecycle", "--no-pager"], capture_output=True, text=True).stdout
        check(f"the drain completed the terminate hook CONTINUE; the machine is off "
              f"({time.monotonic() - t0:.0f} s)", "terminate hook completed CONTINUE" in (journal + world.console(first)),
              journal[-2000:])
    return 1 if RESULTS["failed"] else 0


def transitions(world, iid):
    """The lifecycle transitions the double logged for iid, in order."""
    out = []
    with open(world.double_log) as f:
        for line in f:
            if " asg_lifecycle " in line and f"instance={iid} " in line and " transition=" in line:
                out.append(line.split(" transition=", 1)[1].split()[0])
    return out


def broken_launches(world, env, vars_file, work, first):
    """A parameter changed by hand (its digest no longer matches what it says) and one more instance wanted:
    each launch is ABANDONed with the reason on its console and never serves, the group keeps launching, and
    cluster-config.yml (which writes what differs) heals the pool with no other action."""
    ssm = world.client("ssm")
    name = f"/teleport/{CLUSTER}/config/auth"
    doc = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    doc["vars"]["teleport_log_severity"] = "DEBUG"   # by hand: the digest no longer matches
    ssm.put_parameter(Name=name, Value=json.dumps(doc), Type="String", Overwrite=True)
    world.client("autoscaling").set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    t0 = time.monotonic()

    def abandoned():
        return [i for i in world.launcher.hosts if i != first and i not in world.lifecycle()
                and transitions(world, i)[-1:] == ["Pending:Wait->Terminated"]]
    try:
        gone = wait_state(world, "a launch with the hand-changed parameter to be ABANDONed",
                          lambda s: abandoned() or None, 300)
    except HarnessError as e:
        check("a launch with a hand-changed parameter is ABANDONed", False, f"{e}\n{world.lifecycle()}")
        return
    bad = gone[0]
    console = world.console(bad)
    check(f"a launch with a hand-changed parameter is ABANDONed ({time.monotonic() - t0:.0f} s), never InService, "
          f"its console names the reason", "ABANDON config_invalid" in console
          and "its digest does not match its content" in console
          and not any(t.endswith("->InService") for t in transitions(world, bad)),
          f"{transitions(world, bad)}\n{console[-3000:]}")
    r = run_playbook("cluster-config.yml", None, vars_file, log=os.path.join(work, "publish-again.log"), env=env)
    check(f"cluster-config.yml publishes again, the parameter rewritten ({r.seconds:.0f} s)", r.rc == 0, r.tail())
    t1 = time.monotonic()
    try:
        wait_state(world, "the pool healed: two instances InService",
                   lambda s: sorted(s.values()) == ["InService", "InService"], 600)
        healed = True
    except HarnessError as e:
        healed = False
        late = [i for i in world.launcher.hosts if i not in (first, bad)]
        check("the pool heals once published again", False, f"{e}\n{world.lifecycle()}\n"
              + (world.console(late[-1])[-3000:] if late else ""))
    if healed:
        failed = [i for i in world.launcher.hosts if i != first and i not in world.lifecycle()]
        check(f"the pool healed with no other action: a new instance InService {time.monotonic() - t1:.0f} s after "
              f"publishing; {len(failed)} launch(es) ABANDONed before, none ever in service",
              all(not any(t.endswith("->InService") for t in transitions(world, i)) for i in failed))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
