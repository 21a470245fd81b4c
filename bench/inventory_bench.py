#!/usr/bin/env python3
"""Inventory benchmark: amazon.aws.aws_ec2 vs inventory-service `list` vs the inventory script
against a warm `serve`, on one moto world (3 regions, ~900 Teleport hosts, ~900 unrelated ones).

Prints wall time (median of --runs) and peak RSS for each, and the ratio to the anchor (a)."""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAR = os.path.join(REPO, "inventory-service", "target", "inventory-service.jar")
SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")
REGIONS = ["us-west-2", "eu-central-1", "ap-southeast-2"]
CLUSTER = "teleport.example.com"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # pause between polls, bounded by the deadline
    sys.exit(f"timed out waiting for {what}")


def ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def seed(endpoint, per_region, noise_per_region):
    kw = dict(endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench")
    teleport = noise = 0
    for n, region in enumerate(REGIONS, start=1):
        ec2 = boto3.client("ec2", region_name=region, **kw)
        asg = boto3.client("autoscaling", region_name=region, **kw)
        cidr = f"198.18.{n * 16}.0/20"
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=region + "a")["Subnet"]["SubnetId"]
        ec2.create_launch_template(LaunchTemplateName="teleport", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "m6i.large"})
        auth = max(3, per_region // 10)
        proxies = per_region - auth
        for name, role, count in [(f"teleport-auth-{region}", "auth", auth),
                                  (f"teleport-proxy-a-{region}", "proxy", proxies // 2),
                                  (f"teleport-proxy-b-{region}", "proxy", proxies - proxies // 2)]:
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": "teleport"}, MinSize=0,
                MaxSize=count * 2, DesiredCapacity=count, VPCZoneIdentifier=subnet,
                Tags=[{"Key": "TeleportCluster", "Value": CLUSTER, "PropagateAtLaunch": True},
                      {"Key": "TeleportRole", "Value": role, "PropagateAtLaunch": True}])
            teleport += count
        # Unrelated instances: an application Auto Scaling group and loose instances.
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"web-{region}", LaunchTemplate={"LaunchTemplateName": "teleport"}, MinSize=0,
            MaxSize=noise_per_region, DesiredCapacity=noise_per_region // 2, VPCZoneIdentifier=subnet,
            Tags=[{"Key": "App", "Value": "web", "PropagateAtLaunch": True}])
        left = noise_per_region - noise_per_region // 2
        while left > 0:
            batch = min(left, 100)
            ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=batch, MaxCount=batch, SubnetId=subnet,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "App", "Value": "batch"}]}])
            left -= batch
        noise += noise_per_region
    return teleport, noise


def measure(cmd, env, runs):
    """Median wall seconds and max peak RSS (MiB) over runs, via GNU time."""
    walls, rss = [], []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile("r") as tf:
            start = time.monotonic()
            proc = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%M"] + cmd, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)
            walls.append(time.monotonic() - start)
            if proc.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
            rss.append(int(tf.read().strip().splitlines()[-1]) / 1024)
            out = proc.stdout
    return statistics.median(walls), max(rss), out


def count_hosts(raw):
    import json
    return len(json.loads(raw)["_meta"]["hostvars"])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-region", type=int, default=300, help="Teleport hosts per region (default 300)")
    ap.add_argument("--noise-per-region", type=int, default=300, help="unrelated instances per region (default 300)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median wall time is reported")
    args = ap.parse_args()

    for tool in ("moto_server", "ansible-inventory", "java"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not on PATH: run scripts/install-deps.sh and use the repo's .venv")
    if not os.path.isfile(JAR):
        sys.exit(f"{JAR} missing: run mvn -B -ntp -DskipTests package")

    work = tempfile.mkdtemp(prefix="inventory-bench-")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve = None
    try:
        wait_until("moto", lambda: ok(endpoint + "/moto-api/"))
        t0 = time.monotonic()
        teleport, noise = seed(endpoint, args.per_region, args.noise_per_region)
        print(f"world: {len(REGIONS)} regions, {teleport} Teleport hosts, {noise} unrelated instances (seeded in {time.monotonic() - t0:.0f} s)")

        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION=REGIONS[0], ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        env = {k: v for k, v in env.items() if not k.startswith("TELEPORT_INVENTORY_")}
        aws_ec2 = os.path.join(work, "teleport.aws_ec2.yml")
        with open(aws_ec2, "w") as f:
            f.write(f"""plugin: amazon.aws.aws_ec2
regions: [{', '.join(REGIONS)}]
endpoint_url: {endpoint}
filters:
  tag:TeleportCluster: {CLUSTER}
  instance-state-name: running
hostnames: [instance-id]
compose:
  ansible_host: private_ip_address
keyed_groups:
  - key: tags.TeleportRole
    prefix: teleport
  - key: placement.region
    prefix: region
""")
        config = os.path.join(work, "inventory.yml")
        with open(config, "w") as f:
            f.write(f"cluster: {CLUSTER}\nregions: [{', '.join(REGIONS)}]\n")

        results = []
        wall, rss, out = measure(["ansible-inventory", "-i", aws_ec2, "--list"], env, args.runs)
        results.append(("(a) amazon.aws.aws_ec2 via ansible-inventory --list", wall, rss, count_hosts(out)))
        jvm = ["java", "-Xlog:disable", "-Xlog:all=warning:stderr", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
        wall, rss, out = measure(jvm + ["-jar", JAR, "list", "--config", config], env, args.runs)
        results.append(("(b) inventory-service list", wall, rss, count_hosts(out)))
        # As the inventory script runs it: with the class-data-sharing archive its first run writes.
        archive = os.path.join(work, "inventory-service.jsa")
        measure(jvm + [f"-XX:ArchiveClassesAtExit={archive}", "-jar", JAR, "list", "--config", config], env, 1)
        wall, rss, out = measure(jvm + [f"-XX:SharedArchiveFile={archive}", "-jar", JAR, "list", "--config", config], env, args.runs)
        results.append(("(b') same, with the script's AppCDS archive", wall, rss, count_hosts(out)))

        sport = free_port()
        token = os.path.join(work, "token")
        with open(token, "w") as f:
            f.write("bench-token-0123456789abcdef\n")
        os.chmod(token, 0o600)
        serve = subprocess.Popen(["java", "-jar", JAR, "serve", "--config", config],
                                 env=dict(env, INVENTORY_SERVICE_SERVE__LISTEN_ADDR=f"127.0.0.1:{sport}",
                                          INVENTORY_SERVICE_SERVE__TOKEN_FILE=token),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{sport}"
        wait_until("serve /readyz", lambda: ok(url + "/readyz"))
        senv = dict(env, TELEPORT_INVENTORY_URL=url, TELEPORT_INVENTORY_TOKEN_FILE=token)
        measure([sys.executable, SCRIPT, "--list"], senv, 1)  # warm the service's HTTP path once
        wall, rss, out = measure([sys.executable, SCRIPT, "--list"], senv, args.runs)
        results.append(("(c) inventory script vs warm serve", wall, rss, count_hosts(out)))
        c_wall = wall
        wall, rss, out = measure(["ansible-inventory", "-i", SCRIPT, "--list"], senv, args.runs)
        results.append(("(c') same, through ansible-inventory --list", wall, rss, count_hosts(out)))
        with open(f"/proc/{serve.pid}/status") as f:
            serve_rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

        anchor = results[0][1]
        print(f"\n{'measurement':<52} {'hosts':>6} {'wall s':>8} {'peak RSS MiB':>13} {'speed-up vs (a)':>16}")
        for name, wall, rss, hosts in results:
            print(f"{name:<52} {hosts:>6} {wall:>8.2f} {rss:>13.0f} {anchor / wall:>15.1f}x")
        print(f"{'(serve process itself, warm, peak RSS)':<52} {'':>6} {'':>8} {serve_rss:>13.0f}")
        print(f"\nmedian of {args.runs} runs; targets: (c) >= 20x faster than (a): "
              f"{'met' if anchor / c_wall >= 20 else 'NOT met'}; (b) faster than (a): "
              f"{'met' if min(results[1][1], results[2][1]) < anchor else 'NOT met'}")
        print("note: (a) lists every running instance tagged for the cluster, including Standby and Terminating "
              "ones and instances outside the Teleport Auto Scaling groups; (b) and (c) list only group members.")
    finally:
        if serve:
            serve.terminate()
            serve.wait(20)
        moto.terminate()
        moto.wait(20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
