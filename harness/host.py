"""A machine of a test world as the harness sees it (testinfra's Host): commands over SSH with the
harness's key, checked against the host keys its console printed, the probes every check and drill
reads like sentences, and its power switch.

  host = Host(record)            # a host of lab.json or of the sandbox's state.json
  host.version()                 # "18.11.1": the release its Teleport reports
  host.peer_status()             # its node-agent's /v1/peers/status
  host.resolve("teleport.example.test")
  host.power_off(); host.power_on()

A record holds machine, private_ip, ssh_key and known_hosts, and for the power switch pid, merged,
dir and bridge (harness.machines.boot writes them); the sandbox's add role, region and instance_id.
"""
import json
import re
import shlex

import yaml

from .util import HarnessError, alive, log, run, spawn, stop_pid

# teleport_diag_addr's port (roles/teleport/defaults/main.yml): /readyz and /metrics.
DIAG_PORT = 3000
# The node-agent's listener (roles/node_agent): /v1/peers/status, /v1/tls/status, /metrics.
NODE_AGENT_PORT = 9810
# The capability bounding set of a Teleport with the SSH Service on (roles/teleport's drop-in
# teleport-ssh-service.conf.j2): CAP_CHOWN (0), CAP_FOWNER (3), CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7),
# CAP_AUDIT_WRITE (29), as the kernel numbers them.
SESSION_CAPS = sum(1 << n for n in (0, 3, 5, 6, 7, 29))
SSH_OPTS = ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR"]
_BUILD_INFO = re.compile(r'teleport_build_info\{(?:[^}]*,)?version="([^"]+)"')
_RELOADS = re.compile(r"^teleport_test_double_reloads_total (\d+)$", re.M)


# Runs on a proxy host: a session request to a node with the proxy's own host identity (the double keeps it
# in <data_dir>/test-double-identity), the hop a proxy makes to a node on a user's behalf.
_SESSION_CLIENT = """
import http.client, socket, ssl, sys
ip, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ident = "/var/lib/teleport/test-double-identity/proxy"
ctx = ssl.create_default_context(cafile=ident + ".ca.pem")
ctx.load_cert_chain(ident + ".crt", ident + ".key")
conn = http.client.HTTPSConnection("teleport.cluster.local", port, timeout=60)
conn.sock = ctx.wrap_socket(socket.create_connection((ip, port), timeout=10), server_hostname="teleport.cluster.local")
conn.request("POST", "/test-double/v1/exec", body=body, headers={"Content-Type": "application/json"})
resp = conn.getresponse()
print(resp.status)
print(resp.read().decode())
"""


class Host:
    def __init__(self, record):
        self.record = record

    machine = property(lambda self: self.record["machine"])
    ip = property(lambda self: self.record["private_ip"])
    role = property(lambda self: self.record.get("role"))
    region = property(lambda self: self.record.get("region"))
    instance_id = property(lambda self: self.record.get("instance_id"))

    def __repr__(self):
        return f"Host({self.machine} {self.ip})"

    # --- commands ------------------------------------------------------------------------
    def ssh_opts(self):
        """The harness's ssh options: its key, and only the host keys the console printed."""
        return ["-i", self.record["ssh_key"], "-o", f"UserKnownHostsFile={self.record['known_hosts']}", *SSH_OPTS]

    def run(self, command, check=True, timeout=60, input=None):
        """command over SSH as root; a failure raises HarnessError unless check=False."""
        return run(["ssh", *self.ssh_opts(), f"root@{self.ip}", command], check=check, timeout=timeout, input=input)

    def exists(self, path):
        return self.run(f"test -e {path}", check=False).returncode == 0

    def _get(self, port, path):
        """The body of http://<ip>:<port><path> fetched on the host, or None when it does not answer 2xx."""
        p = self.run(f"curl -sf http://{self.ip}:{port}{path}", check=False)
        return p.stdout if p.returncode == 0 else None

    # --- Teleport ------------------------------------------------------------------------
    def teleport_yaml(self):
        return yaml.safe_load(self.run("cat /etc/teleport.yaml").stdout)

    def teleport_argv(self):
        """The command line the running Teleport process was started with, its arguments joined by spaces
        (the unit takes some from its environment file, so ExecStart does not show them)."""
        return self.run("tr '\\0' ' ' </proc/$(systemctl show -p MainPID --value teleport)/cmdline").stdout.strip()

    def metrics(self):
        """Teleport's /metrics on its diag address ("" when it does not answer)."""
        return self._get(DIAG_PORT, "/metrics") or ""

    def version(self):
        """The release of the Teleport process answering on the diag address (teleport_build_info), or None."""
        m = _BUILD_INFO.search(self.metrics())
        return m.group(1) if m else None

    def reloads(self):
        """How many times the Teleport double re-read its config (SIGHUP), or None when it does not say."""
        m = _RELOADS.search(self.metrics())
        return int(m.group(1)) if m else None

    def readyz(self):
        """The HTTP status of Teleport's /readyz ("000" when nothing answers)."""
        return self.run(f"curl -s -o /dev/null -w '%{{http_code}}' http://{self.ip}:{DIAG_PORT}/readyz", check=False).stdout

    def main_pid(self):
        return self.run("systemctl show -p MainPID --value teleport").stdout.strip()

    def teleport_process(self):
        """The running Teleport's Uid and capability sets, as /proc/<pid>/status shows them: {"Uid": "0",
        "CapBnd": 0x200000e9, ...}, the user ids as the kernel prints them (real, effective, saved, fs), the
        capability sets as numbers."""
        out = self.run("grep -E '^(Uid|Cap(Inh|Prm|Eff|Bnd|Amb)):' /proc/$(systemctl show -p MainPID --value teleport)/status").stdout
        fields = {key: value.split() for key, value in (line.split(":", 1) for line in out.splitlines())}
        return {key: int(value[0], 16) if key.startswith("Cap") else " ".join(value) for key, value in fields.items()}

    def session(self, via, login, command, terminal=False):
        """A session on this host's SSH Service as login, asked for by the proxy host via with its own
        identity: the Teleport double's stand-in for a user's `tsh ssh login@host` through that proxy
        (tests/teleport-double/README.md, "Sessions"). Returns (HTTP status, the answer's JSON)."""
        request = json.dumps({"login": login, "command": command, "term": terminal})
        got = via.run(f"python3 - {self.ip} 3022 {shlex.quote(request)}", input=_SESSION_CLIENT, check=False)
        status, _, body = got.stdout.partition("\n")
        if not status.isdigit():
            raise HarnessError(f"{via.machine} -> {self.machine}:3022 session as {login}: {got.stdout}{got.stderr}")
        return int(status), json.loads(body) if body.startswith("{") else {"error": body}

    # --- the node-agent --------------------------------------------------------------------
    def peer_status(self):
        """The node-agent's /v1/peers/status, or None when it does not answer."""
        body = self._get(NODE_AGENT_PORT, "/v1/peers/status")
        return json.loads(body) if body is not None else None

    def tls_status(self):
        """The node-agent's /v1/tls/status (HarnessError when it does not answer)."""
        return json.loads(self.run(f"curl -sf http://{self.ip}:{NODE_AGENT_PORT}/v1/tls/status").stdout)

    # --- the system -----------------------------------------------------------------------
    def active(self, *units):
        """systemctl is-active of each unit, in order: ["active", "inactive", ...]."""
        return self.run(f"systemctl is-active {' '.join(units)}", check=False).stdout.split()

    def resolve(self, name):
        """The first IPv4 address name resolves to on the host, through its resolver ("" when none)."""
        return self.run(f"getent ahostsv4 {name} | awk 'NR==1{{print $1}}'").stdout.strip()

    def listening(self, port):
        return f":{port} " in self.run("ss -Hltn", check=False).stdout

    def ssh_logins(self):
        """Accepted SSH logins so far (this query's own login included)."""
        out = self.run("journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey' || true").stdout
        return int(out.strip() or 0)

    # --- power ----------------------------------------------------------------------------
    def power_off(self):
        """Powers the host off as a lost region would (systemd-nspawn's SIGTERM: an orderly poweroff);
        its overlay stays, so power_on boots the same disk again."""
        stop_pid(self.record["pid"], f"host {self.machine}", grace=30)

    def power_on(self):
        """Boots a powered-off host again from its overlay; the caller waits for SSH (machines.wait_ssh)."""
        if alive(self.record["pid"]):
            raise HarnessError(f"{self.machine} is still running (pid {self.record['pid']})")
        self.record["pid"] = nspawn(self.machine, self.record["merged"], self.record["bridge"], self.record["dir"])
        log(f"booting {self.machine} again from its overlay (nspawn pid {self.record['pid']})")

    def running(self):
        return alive(self.record["pid"])


def nspawn(machine, merged, bridge, d):
    """Boots the root at merged as a systemd-nspawn host on bridge; its console goes to d/console.log."""
    return spawn(["systemd-nspawn", "-D", merged, "--register=no", "--keep-unit", "-b",
                  f"--network-bridge={bridge}", f"--machine={machine}",
                  "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only"],
                 f"{d}/console.log")
