"""The sandbox's state: state.json (what runs, with its pids and addresses, and the hosts) and the
directory that holds it, its logs, keys and configs (SANDBOX_STATE_DIR, default sandbox/state/)."""
import os

from ..host import Host
from ..util import REPO, load_json, save_json

STATE_DIR = os.environ.get("SANDBOX_STATE_DIR", os.path.join(REPO, "sandbox", "state"))
STATE_FILE = os.path.join(STATE_DIR, "state.json")
HOSTS_DIR = os.path.join(STATE_DIR, "hosts")
# The hypervisor's side of EC2's console output: <CONSOLES>/<instance id> links to the console
# log of the host that runs the instance (the ec2-double answers GetConsoleOutput from it).
CONSOLES = os.path.join(STATE_DIR, "consoles")
SSH_KEY = os.path.join(STATE_DIR, "ssh", "id_ed25519")
# The hosts' keys as their consoles printed them (machines.learn_host_keys), keyed by private IP.
KNOWN_HOSTS = os.path.join(STATE_DIR, "ssh", "known_hosts")


def load_state():
    return load_json(STATE_FILE)


def save_state(state):
    save_json(STATE_FILE, state)


def hosts(state, role=None, region=None):
    """The world's machines (harness.host.Host), in state.json's order, of one role and region if given."""
    return [Host(h) for h in state["hosts"]
            if (role is None or h["role"] == role) and (region is None or h["region"] == region)]
