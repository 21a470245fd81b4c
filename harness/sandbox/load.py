"""Load for the drills: bounded HTTPS clients (harness/sandbox/client.py) in the regions' client
namespaces, asking for the cluster by name through each region's resolver, one request every
CLIENT_INTERVAL seconds, each recorded (address, status, certificate)."""
import json
import os
import subprocess

from ..util import REPO, venv_python, wait_until
from . import edgeworld, world
from .state import STATE_DIR

CLIENT_INTERVAL = 0.25


class Running:
    """A bounded client (harness/sandbox/client.py) as its own process, in a network namespace when given one:
    its records as it writes them, and its stop."""

    def __init__(self, out, *, name, cacert, interval, max_requests, max_seconds, timeout=5.0, connect=None, netns=None):
        self.out, self.stop_file = out, out + ".stop"
        for f in (self.out, self.stop_file):
            if os.path.exists(f):
                os.unlink(f)
        argv = [venv_python(), "-m", "harness.sandbox.client", "--name", name, "--cacert", cacert, "--out", out,
                "--interval", str(interval), "--max-requests", str(max_requests), "--max-seconds", str(max_seconds),
                "--stop-file", self.stop_file, "--timeout", str(timeout)]
        if connect:
            argv += ["--connect", connect]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        with open(out + ".err", "w") as err:
            self.proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        self.result = None

    def records(self):
        try:
            with open(self.out) as f:
                return [json.loads(line) for line in f if line.strip() and not line.startswith('{"done"')]
        except FileNotFoundError:
            return []

    def stop(self):
        """Stops the client (once); returns (records, failed records)."""
        if self.result is None:
            with open(self.stop_file, "w"):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            recs = self.records()
            self.result = recs, [r for r in recs if not r["ok"]]
        return self.result


class Client(Running):
    """One client in a region's client namespace, by name through its resolver."""

    def __init__(self, region, label, max_seconds, interval=CLIENT_INTERVAL, timeout=5.0, name=world.CLUSTER,
                 max_requests=None):
        self.region, self.label = region, label
        super().__init__(os.path.join(STATE_DIR, f"client-{label}-{region['short']}.jsonl"), name=name,
                         cacert=edgeworld.CA_FILE, interval=interval, max_seconds=max_seconds, timeout=timeout,
                         max_requests=max_requests or int(max_seconds / interval) + 1, netns=region["netns"])

    def wait_serving(self, address, timeout=60):
        wait_until(f"the {self.label} client in {self.region['name']} served through {address}",
                   lambda: any(r["ok"] and r["address"] == address for r in self.records()[-3:]), timeout, 0.25)


class Load:
    """A client in every region (world.REGIONS' order) for the length of a drill: clients[0] in us-west-2."""

    def __init__(self, label, max_seconds, timeouts=None):
        """timeouts: {region name: seconds per request} where not the client's 5 s."""
        self.clients = [Client(r, label, max_seconds, timeout=(timeouts or {}).get(r["name"], 5.0)) for r in world.REGIONS]

    def client(self, region_name):
        return next(c for c in self.clients if c.region["name"] == region_name)

    def wait_serving(self):
        """Until each region's client is served through its own region's proxy NLB."""
        for c in self.clients:
            c.wait_serving(c.region["nlb"]["proxy"])

    def stop(self):
        """Stops every client; {region name: (records, failed)}."""
        return {c.region["name"]: c.stop() for c in self.clients}

    def sent(self):
        return sum(len(recs) for recs, _ in self.stop().values())

    def failed(self):
        return [f for _, failed in self.stop().values() for f in failed]


def summary(recs):
    """'<address>: <ok> ok/<failed> failed, ...' of a client's records."""
    by_addr = {}
    for r in recs:
        by_addr.setdefault(r["address"], [0, 0])[0 if r["ok"] else 1] += 1
    return ", ".join(f"{a}: {ok} ok/{bad} failed" for a, (ok, bad) in sorted(by_addr.items(), key=str))
