"""ec2-launch-double: the part of EC2 that starts and stops machines, which moto cannot (it records
an instance and starts nothing). A double, named so in every line it logs.

For every instance moto holds in one region, in the Auto Scaling groups it watches, it mirrors EC2:

  * `pending`/`running` with no host yet: it boots one (harness/machines.py, a systemd-nspawn host)
    at the instance's private IP on the region's bridge, from the image (a baked layer over the
    Debian root: what the AMI holds), with cloud-init's NoCloud seed giving the instance id and the
    instance's own user data, read back as EC2 hands it over (DescribeInstanceAttribute userData, the
    launch template version's user data the instance was launched with; EC2 user guide, "Run
    commands when you launch an EC2 instance with user data input": cloud-init runs it at the first
    boot). Real cloud-init then runs it.
  * `shutting-down`/`terminated` (or gone) with a host: it powers the host off, as EC2 stops the
    instance's machine, and keeps its console and disk for the test to read.

Not modelled: boot time (a host is up in seconds, an EC2 instance in tens of seconds), instance
types, EBS, placement, stop/start and hibernation, and user data larger than EC2's 16 KB limit
(refused here, as RunInstances refuses it).

  launcher = Launcher(endpoint, "us-west-2", net, base, image, key, hosts_dir, known_hosts, consoles,
                      groups=["tpboot-auth-us-west-2"], files={...})
  launcher.reconcile()   # one pass; returns (booted, powered_off) instance ids
"""
import base64
import binascii

from .host import Host
from .machines import boot
from .moto import client
from .util import HarnessError, log

NAME = "ec2-launch-double"
# EC2: "User data is limited to 16 KB, in raw form, before it is base64-encoded."
USER_DATA_MAX = 16 * 1024
LIVE = ("pending", "running")


class Launcher:
    def __init__(self, endpoint, region, net, base, image, key, hosts_dir, known_hosts, consoles, groups, files=None,
                 limit=None):
        """net: {"bridge", "cidr", "gateway", "nameserver"}; groups: the Auto Scaling group names whose
        instances it starts; files: {path: (content, mode)} every host gets besides (the emulator's
        endpoints); limit: how many machines it boots at most (a group replacing failed instances
        forever is a failure the caller hears of, not a machine full of hosts)."""
        self.ec2 = client("ec2", region, endpoint)
        self.autoscaling = client("autoscaling", region, endpoint)
        self.region, self.net, self.base, self.image = region, net, base, image
        self.key, self.hosts_dir, self.known_hosts, self.consoles = key, hosts_dir, known_hosts, consoles
        self.groups, self.files, self.limit = list(groups), dict(files or {}), limit
        self.hosts = {}   # instance id -> the machine's record (machines.boot), kept after power-off
        self.count = 0

    def _log(self, what, **fields):
        log(f"{NAME}: {what} " + " ".join(f"{k}={v}" for k, v in fields.items()))

    def instances(self):
        """{instance id: (state, private ip, group)} of the watched groups' instances, from EC2."""
        out = {}
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=self.groups)["AutoScalingGroups"]
        ids = {i["InstanceId"]: g["AutoScalingGroupName"] for g in groups for i in g.get("Instances", [])}
        ids.update({iid: group for iid, (_, _, group) in self._known().items()})
        if not ids:
            return out
        for res in self.ec2.describe_instances(InstanceIds=sorted(ids))["Reservations"]:
            for inst in res["Instances"]:
                out[inst["InstanceId"]] = (inst["State"]["Name"], inst.get("PrivateIpAddress"), ids[inst["InstanceId"]])
        return out

    def _known(self):
        return {iid: (None, h["private_ip"], h["group"]) for iid, h in self.hosts.items()}

    def user_data(self, instance_id):
        """The instance's user data as EC2 gives it to the instance (decoded), or None."""
        attr = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        encoded = (attr.get("UserData") or {}).get("Value")
        if not encoded:
            return None
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise HarnessError(f"{NAME}: {instance_id}'s user data is not base64") from None
        if len(raw) > USER_DATA_MAX:
            raise HarnessError(f"{NAME}: {instance_id}'s user data is {len(raw)} bytes; EC2 allows {USER_DATA_MAX}")
        return raw.decode("utf-8")

    def reconcile(self):
        booted, stopped = [], []
        for iid, (state, ip, group) in sorted(self.instances().items()):
            h = self.hosts.get(iid)
            if state in LIVE and h is None:
                if not ip:
                    continue  # EC2 gives the address with the network interface; not yet
                if self.limit is not None and self.count >= self.limit:
                    raise HarnessError(f"{NAME}: {iid} would be the {self.count + 1}th machine booted here (limit "
                                       f"{self.limit}): {group} keeps replacing its instances; their consoles tell why")
                self.count += 1
                machine = f"i{iid[2:12]}"
                hostname = "ip-" + ip.replace(".", "-")
                record = boot(machine, ip, self.net["cidr"], self.net["gateway"], self.net["bridge"], hostname,
                              self.base, self.key, self.hosts_dir, self.known_hosts,
                              nameserver=self.net.get("nameserver"), instance_id=iid, consoles=self.consoles,
                              image=self.image, user_data=self.user_data(iid), files=self.files)
                self.hosts[iid] = dict(record, instance_id=iid, group=group, region=self.region)
                self._log("boot", instance=iid, group=group, ip=ip, machine=machine)
                booted.append(iid)
            elif state not in LIVE and h is not None and Host(h).running():
                Host(h).power_off()
                self._log("power-off", instance=iid, group=group, state=state)
                stopped.append(iid)
        return booted, stopped

    def running(self):
        return {iid: h for iid, h in self.hosts.items() if Host(h).running()}

    def down(self):
        from .machines import down
        down(list(self.hosts.values()), self.hosts_dir)
