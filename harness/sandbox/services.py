"""Services the sandbox runs on this machine: the inventory service (serve
mode, against moto), Debian's Prometheus scraping the node-agents and Teleport through
the inventory service's HTTP service discovery, and Pebble as the cluster's
ACME CA (validating dns-01 through the sandbox's CoreDNS)."""
import json
import os
import secrets
import shutil
import ssl
import urllib.parse
import urllib.request

from .. import pki
from ..acme import Pebble
from ..edge.common import read_json
from ..host import DIAG_PORT
from ..moto import aws_env
from ..util import REPO, HarnessError, alive, log, spawn, venv_python, wait_until
from . import world
from .state import STATE_DIR

JAR = os.path.join(REPO, "inventory-service", "target", "inventory-service.jar")
NODE_AGENT_JAR = os.path.join(REPO, "node-agent", "target", "node-agent.jar")
ARTIFACTS = os.path.join(STATE_DIR, "artifacts")


def snapshot_jars():
    """Copies the jars into the state dir, so a rebuild in the working tree
    while the sandbox runs changes neither the running service nor what
    site.yml deploys (which would break the changed=0 checks)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    out = {}
    for name, src, build in (("inventory-service", JAR, "inventory-service"), ("node-agent", NODE_AGENT_JAR, "node-agent")):
        if not os.path.exists(src):
            raise HarnessError(f"{src} is missing: build it first with `mvn -B -ntp -pl {build} -am package -DskipTests`")
        out[name] = os.path.join(ARTIFACTS, os.path.basename(src))
        shutil.copy2(src, out[name])
    return out
TOKEN_FILE = os.path.join(STATE_DIR, "inventory-token")
ALERT_RULES = os.path.join(REPO, "monitoring", "alerts.yml")
INVENTORY_CONFIG = os.path.join(STATE_DIR, "inventory-service.yml")
# The inventory service answers HTTPS beyond loopback (serve.tls): a pair for the bridge address
# from a CA of the sandbox's own, which its clients (the harness, the inventory script, Prometheus,
# the node-agents) trust alone.
INVENTORY_TLS_DIR = os.path.join(STATE_DIR, "inventory-tls")
INVENTORY_CA = os.path.join(INVENTORY_TLS_DIR, "ca.crt")


def inventory_url():
    return f"https://{world.REGIONS[0]['gateway']}:{world.INVENTORY_PORT}"


def inventory_tls():
    """An SSL context trusting only the inventory service's CA."""
    return ssl.create_default_context(cafile=INVENTORY_CA)


def write_inventory_config(endpoint):
    with open(TOKEN_FILE, "w") as f:
        f.write(secrets.token_urlsafe(24) + "\n")
    os.chmod(TOKEN_FILE, 0o600)
    regions = ", ".join(r["name"] for r in world.REGIONS)
    tls = pki.issue(INVENTORY_TLS_DIR, [world.REGIONS[0]["gateway"]])
    with open(INVENTORY_CONFIG, "w") as f:
        f.write(f"""# Written by sandbox/sandbox: the inventory service against the sandbox's moto, through the
# ec2-double (moto for every service, EC2's GetConsoleOutput as EC2 answers it).
cluster: {world.CLUSTER}
regions: [{regions}]
aws:
  endpoint_url: {endpoint}
refresh:
  interval: 5s
  max_staleness: 10m
serve:
  # On region A's bridge so the hosts' node-agents can fetch /v1/peers.
  listen_addr: {world.REGIONS[0]['gateway']}:{world.INVENTORY_PORT}
  token_file: {TOKEN_FILE}
  tls:
    cert_file: {tls["tls.crt"]}
    key_file: {tls["tls.key"]}
node_agent:
  metrics_port: {world.NODE_AGENT_PORT}
teleport:
  diag_port: {DIAG_PORT}
""")


def java():
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return os.path.join(home, "bin", "java")
    found = shutil.which("java")
    if not found:
        raise HarnessError("java not found: install a JRE 17 (scripts/install-deps.sh) or set JAVA_HOME")
    return found


def _get(url, token=True, timeout=5):
    req = urllib.request.Request(url)
    if token:
        with open(TOKEN_FILE) as f:
            req.add_header("Authorization", "Bearer " + f.read().strip())
    with urllib.request.urlopen(req, timeout=timeout, context=inventory_tls()) as r:
        return json.load(r) if "json" in r.headers.get("Content-Type", "") else r.read().decode()


def start_inventory(state, endpoint, expected_hosts):
    jar = snapshot_jars()["inventory-service"]
    write_inventory_config(endpoint)
    pid = spawn([java(), "-Xmx256m", "-XX:+UseSerialGC", "-jar", jar, "serve", "--config", INVENTORY_CONFIG],
                os.path.join(STATE_DIR, "inventory-service.log"), env=aws_env(endpoint))
    state["inventory"] = {"pid": pid, "url": inventory_url(), "config": INVENTORY_CONFIG, "token_file": TOKEN_FILE,
                          "ca_file": INVENTORY_CA}
    base = inventory_url()
    wait_until("inventory service /readyz", lambda: urllib.request.urlopen(
        base + "/readyz", timeout=2, context=inventory_tls()).status == 200, 90, 0.5)

    def all_hosts_listed():
        inv = _get(base + "/v1/inventory")
        names = set(inv.get("_meta", {}).get("hostvars", {}))
        return len(names) >= expected_hosts
    wait_until(f"inventory service to list all {expected_hosts} hosts", all_hosts_listed, 60, 0.5)
    log(f"inventory service on {base} (pid {pid})")


def _sd_job(job):
    """A scrape job whose targets are the inventory service's /v1/sd/<job>: the node-agents'
    metrics port, or Teleport's diag_addr, with the same labels."""
    return f"""  - job_name: {job}
    http_sd_configs:
      - url: {inventory_url()}/v1/sd/{job}
        refresh_interval: 5s
        tls_config:
          ca_file: {INVENTORY_CA}
        authorization:
          # Explicit: Debian's Prometheus 2.42 sends the bare token for
          # http_sd_configs unless the type is given.
          type: Bearer
          credentials_file: {TOKEN_FILE}
"""


def start_prometheus(state):
    prom = shutil.which("prometheus")
    if not prom:
        raise HarnessError("prometheus not found: it is in scripts/apt-packages.txt (run scripts/install-deps.sh)")
    d = os.path.join(STATE_DIR, "prometheus")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(f"""# Written by sandbox/sandbox: scrape every node-agent and every Teleport (its diag_addr)
# the inventory service reports, and the inventory service itself; evaluate the project's alert rules.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - {ALERT_RULES}
scrape_configs:
  - job_name: inventory-service
    scheme: https
    tls_config:
      ca_file: {INVENTORY_CA}
    static_configs:
      - targets: ["{world.REGIONS[0]['gateway']}:{world.INVENTORY_PORT}"]
    authorization:
      type: Bearer
      credentials_file: {TOKEN_FILE}
{"".join(_sd_job(job) for job in ("node-agent", "teleport"))}""")
    pid = spawn([prom, f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(d, 'data')}",
                 f"--web.listen-address={world.PROMETHEUS_ADDR}", "--storage.tsdb.retention.time=1d"],
                os.path.join(STATE_DIR, "prometheus.log"))
    state["prometheus"] = {"pid": pid, "url": f"http://{world.PROMETHEUS_ADDR}"}
    wait_until("prometheus /-/ready", lambda: urllib.request.urlopen(state["prometheus"]["url"] + "/-/ready", timeout=2).status == 200, 60, 0.5)
    log(f"prometheus on {state['prometheus']['url']} (pid {pid})")


def prometheus_alerts(state):
    """[{labels, state (pending|firing), activeAt, ...}] of Prometheus' active alerts."""
    with urllib.request.urlopen(state["prometheus"]["url"] + "/api/v1/alerts", timeout=5) as r:
        return json.load(r)["data"]["alerts"]


def prometheus_query(state, query):
    url = state["prometheus"]["url"] + "/api/v1/query?query=" + urllib.parse.quote(query)
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise HarnessError(f"prometheus query {query}: {body}")
    return body["data"]["result"]


ACME_DIR = os.path.join(STATE_DIR, "acme")
ACME_INFO = os.path.join(ACME_DIR, "pebble.json")
# The root Pebble issues under (new at every Pebble start): what the sandbox's clients trust.
ACME_ROOT = os.path.join(ACME_DIR, "root.pem")


def start_pebble(state):
    """Pebble for the life of the sandbox, resolving dns-01 challenges through the sandbox's
    CoreDNS on this machine (the public view of moto's zone, as Let's Encrypt sees it)."""
    os.makedirs(ACME_DIR, exist_ok=True)
    pid = spawn([venv_python(), "-m", "harness.acme", "run", "--dir", ACME_DIR, "--dns", world.DNS_LOCAL,
                 "--info-out", ACME_INFO], os.path.join(STATE_DIR, "pebble.log"))
    state["acme"] = {"pid": pid, "info": ACME_INFO, "root": ACME_ROOT}

    def answering():
        if not alive(pid):
            raise HarnessError(f"Pebble exited; its logs: {STATE_DIR}/pebble.log, {ACME_DIR}/pebble.log")
        return os.path.exists(ACME_INFO)
    wait_until("Pebble's ACME directory", answering, 60, 0.2)
    p = pebble(state)
    with open(ACME_ROOT, "w") as f:
        f.write(p.root_pem())
    state["acme"]["directory"] = p.directory_url
    log(f"Pebble {p.directory_url} (pid {pid}), validating dns-01 through CoreDNS on {world.DNS_LOCAL}")


def pebble(state):
    """A handle on the sandbox's Pebble (its management API and log)."""
    return Pebble.attach(read_json(state["acme"]["info"]))
