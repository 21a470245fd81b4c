"""Pebble, Let's Encrypt's ACME test server, as the certificate authority of the
suites and the sandbox: playbooks/tls.yml orders from it exactly as it would from
Let's Encrypt (dns-01 through Route 53), and Pebble validates the challenges by
asking a real DNS server (CoreDNS serving moto's zones, harness.edge.dns).

Pebble is real (v2.10.3, installed by scripts/install-deps.sh with `go install`,
never committed). What is specific to a test CA, and what tls.yml must cope with:

- its HTTPS listener needs a certificate of its own: a throwaway CA from
  harness.pki signs one for 127.0.0.1, and tls.yml trusts that CA through
  tls_issuer_acme_ca_bundle;
- the root it issues under is generated at every start and published only on its
  management API (/roots/0): tls.yml receives it as tls_issuer_ca_pem, and the
  proxies' system trust stores get it (Teleport accepts a non-self-signed chain
  only if the system store trusts it);
- PEBBLE_VA_NOSLEEP=1 removes the random delay before it validates, so the
  issuer's own propagation check is what keeps a fresh TXT record from failing;
- its state lives in memory: a restart forgets accounts, orders and renewal info.

    python -m harness.acme run --dir DIR --dns 127.0.0.1:5354   # foreground; prints tls.yml's inputs as JSON

`sandbox up` runs it that way for the life of the sandbox (--info-out: where the drills find
it again, Pebble.attach).
"""
import argparse
import datetime
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from . import pki
from .util import HarnessError, free_port, terminate, wait_until

PEBBLE_VERSION = "v2.10.3"
PEBBLE_BIN = os.environ.get("PEBBLE_BIN") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "teleport-ha-aws", "pebble", PEBBLE_VERSION, "pebble")
# Pebble logs one line per order it accepts (wfe.NewOrder).
_ORDER_LINE = re.compile(r'Added order "[^"]+" to the db')


def binary():
    if not os.access(PEBBLE_BIN, os.X_OK):
        raise HarnessError(f"{PEBBLE_BIN} is missing: run scripts/install-deps.sh (it installs Pebble {PEBBLE_VERSION} "
                           "with go install), or point PEBBLE_BIN at a pebble binary")
    return PEBBLE_BIN


class Pebble:
    """One Pebble process on loopback. dns_server: the host:port it resolves challenges with."""

    def __init__(self, directory, dns_server, nosleep=True, host="127.0.0.1", env=None, ports=None):
        self.dir = os.path.abspath(directory)
        self.dns_server = dns_server
        self.nosleep = nosleep
        self.host = host
        self.extra_env = dict(env or {})
        self.port, self.mgmt_port = ports or (free_port(host), free_port(host))
        self.log_path = os.path.join(self.dir, "pebble.log")
        self.proc = None
        self._listener = None

    def info(self):
        """What another process needs to reach this Pebble (Pebble.attach)."""
        return {"dir": self.dir, "dns_server": self.dns_server, "host": self.host, "port": self.port,
                "mgmt_port": self.mgmt_port, "listener_ca": self.ca_bundle}

    @classmethod
    def attach(cls, info):
        """A handle on a Pebble another process runs (`acme run --info-out`): its management
        API and log, not its process."""
        p = cls(info["dir"], info["dns_server"], host=info["host"], ports=(info["port"], info["mgmt_port"]))
        p._listener = {"ca.crt": info["listener_ca"]}
        return p

    @property
    def directory_url(self):
        return f"https://{self.host}:{self.port}/dir"

    @property
    def ca_bundle(self):
        """The CA of Pebble's own HTTPS listener (what an ACME client must trust to talk to it)."""
        return self._listener["ca.crt"]

    def _write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        if self._listener is None:
            self._listener = pki.issue(os.path.join(self.dir, "listener"), [self.host, "localhost"])
        config = {"pebble": {
            "listenAddress": f"{self.host}:{self.port}",
            "managementListenAddress": f"{self.host}:{self.mgmt_port}",
            "certificate": self._listener["tls.crt"],
            "privateKey": self._listener["tls.key"],
            # Where Pebble would connect for http-01 and tls-alpn-01; tls.yml only uses dns-01.
            "httpPort": 5002,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "domainBlocklist": ["blocked-domain.example"],
            "retryAfter": {"authz": 1, "order": 1},
            "keyAlgorithm": "ecdsa",
            # Let's Encrypt's classic profile: 90 days.
            "profiles": {"default": {"description": "90 days, as Let's Encrypt's classic profile",
                                     "validityPeriod": 7776000}},
        }}
        path = os.path.join(self.dir, "pebble-config.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        return path

    def _ctx(self):
        return ssl.create_default_context(cafile=self.ca_bundle)

    def _get(self, url, timeout=5):
        with urllib.request.urlopen(url, timeout=timeout, context=self._ctx()) as r:
            return r.read().decode()

    def start(self, timeout=30):
        config = self._write_config()
        env = dict(os.environ, **self.extra_env)
        if self.nosleep:
            env["PEBBLE_VA_NOSLEEP"] = "1"
        else:
            env.pop("PEBBLE_VA_NOSLEEP", None)
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary(), "-config", config, "-dnsserver", self.dns_server],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     cwd=self.dir, start_new_session=True)
        out.close()
        wait_until("Pebble's management API", lambda: self.proc.poll() is None and self.root_pem(), timeout, 0.25)
        wait_until("Pebble's ACME directory", lambda: '"newOrder"' in self._get(self.directory_url), timeout, 0.25)
        return self

    def root_pem(self):
        """The root Pebble issues under now (a new one at every start)."""
        return self._get(f"https://{self.host}:{self.mgmt_port}/roots/0")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def orders(self):
        """How many orders this Pebble's log says it accepted (all starts, since the log is appended)."""
        return len(_ORDER_LINE.findall(self.log_text()))

    def set_renewal_info(self, cert_pem, window_start, window_end):
        """Makes ARI (RFC 9773) suggest renewing cert_pem's leaf in [window_start, window_end]
        (RFC 3339 strings): Pebble's management API, as a CA does for a certificate it must revoke."""
        body = json.dumps({"Certificate": cert_pem, "ARIResponse": json.dumps(
            {"suggestedWindow": {"start": window_start, "end": window_end}})}).encode()
        req = urllib.request.Request(f"https://{self.host}:{self.mgmt_port}/set-renewal-info/", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=5, context=self._ctx()) as r:
            if r.status != 200:
                raise HarnessError(f"Pebble refused the renewal info: HTTP {r.status}")

    def renewal_due_now(self, cert_pem):
        """ARI says cert_pem is due: a suggested window that ended yesterday."""
        now = datetime.datetime.now(datetime.timezone.utc)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        self.set_renewal_info(cert_pem, (now - datetime.timedelta(days=2)).strftime(fmt),
                              (now - datetime.timedelta(days=1)).strftime(fmt))

    def stop(self):
        terminate(self.proc)
        self.proc = None

    def tls_yml_vars(self):
        """The inputs playbooks/tls.yml needs to order from this Pebble (docs/tls.md)."""
        return {"tls_issuer_acme_directory": self.directory_url,
                "tls_issuer_acme_ca_bundle": self.ca_bundle,
                "tls_issuer_acme_terms_agreed": True,
                "tls_issuer_ca_pem": self.root_pem()}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="acme", description="Pebble as the sandbox's ACME CA (docs/tls.md)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run Pebble in the foreground until SIGTERM; print tls.yml's inputs as JSON")
    r.add_argument("--dir", required=True, help="state directory (config, listener certificate, log)")
    r.add_argument("--dns", required=True, help="HOST:PORT of the DNS server Pebble validates dns-01 with")
    r.add_argument("--sleep", action="store_true", help="keep Pebble's random validation delay (default: PEBBLE_VA_NOSLEEP=1)")
    r.add_argument("--info-out", help="once Pebble answers, write its address, ports and listener CA here as JSON "
                                      "(written whole: a temporary file renamed)")
    a = ap.parse_args(argv)
    pebble = Pebble(a.dir, a.dns, nosleep=not a.sleep)
    try:
        pebble.start()
    except HarnessError as e:
        print(f"acme: {e}", file=sys.stderr)
        return 2
    print(json.dumps(pebble.tls_yml_vars() | {"pebble_log": pebble.log_path}), flush=True)
    if a.info_out:
        tmp = a.info_out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(pebble.info(), f)
        os.replace(tmp, a.info_out)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping and pebble.alive():
            time.sleep(0.5)  # a foreground supervisor's idle loop, not synchronisation
    except KeyboardInterrupt:
        pass
    pebble.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
