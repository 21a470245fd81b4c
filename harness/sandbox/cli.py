"""sandbox/sandbox's arguments (docs/sandbox.md): each subcommand calls the library."""
import argparse
import json

from .. import lab
from ..util import HarnessError, log
from . import lifecycle, runner
from .state import STATE_DIR, load_state


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
                        "later drills expect the earlier ones' end state, e.g. upgrade wants every host on 18.11.1)")
    t.add_argument("--world-only", action="store_true",
                   help="check the world (hosts, SSH through the inventory, the double) without site.yml")
    lab_parser = sub.add_parser("lab", help="a small world of N hosts on one bridge, for suites (prints JSON)")
    lab_sub = lab_parser.add_subparsers(dest="lab_cmd", required=True)
    lab_up = lab_sub.add_parser("up")
    lab_up.add_argument("name")
    lab_up.add_argument("--hosts", type=int, default=1)
    lab_up.add_argument("--cidr", default="198.18.250.0/24")
    lab_sub.add_parser("down").add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            return up(args.converge)
        if args.cmd == "test":
            return runner.test(args.only, args.world_only, args.keep)
        if args.cmd == "lab":
            return lab_command(args)
        return {"down": lifecycle.down, "status": lifecycle.status}[args.cmd]() or 0
    except HarnessError as e:
        log(f"FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def up(converged):
    if load_state():
        # Checked here, before the teardown-on-failure below, so that a
        # second `up` never takes down the running sandbox.
        raise HarnessError(f"the sandbox is already up ({STATE_DIR}/state.json); run `sandbox/sandbox down` first")
    try:
        lifecycle.up(converged)
    except BaseException:
        log("bring-up failed: tearing down what was started")
        lifecycle.down()
        raise
    return 0


def lab_command(args):
    if args.lab_cmd == "up":
        state = lab.up(args.name, args.hosts, args.cidr)
        print(json.dumps({k: state[k] for k in ("name", "bridge", "gateway", "ssh_key", "known_hosts")}
                         | {"hosts": [{"name": h["machine"], "ip": h["private_ip"]} for h in state["hosts"]]}))
    else:
        lab.down(args.name)
    return 0
