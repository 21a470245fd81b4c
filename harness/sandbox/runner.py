"""`sandbox test`: up, the first converge, the checks and drills in their order (or the ones --only
names), their figures written to build/sandbox-figures.json, and down, also on failure (the logs
copied out first). The drills run on one world, so each starts from the state the ones before it
leave: upgrade wants every host on 18.11.1, which region-loss and steering keep."""
import os
import time

from ..util import REPO, HarnessError, log
from . import checks, converge, lifecycle
from .drill import Drill, Report, run_drill
from .drills.region_loss import RegionLoss
from .drills.steering import Steering
from .drills.tls import TlsRenewal
from .drills.upgrade import Upgrade, UpgradeFailure
from .state import load_state

FIGURES = os.path.join(REPO, "build", "sandbox-figures.json")
# After the first converge, in order: a check is a function of the state, a drill a Drill.
STEPS = {
    "host-keys": checks.host_keys,
    "instance-identity": checks.instance_identity,
    "teleport-yaml": checks.teleport_yaml,
    "units": checks.units,
    "peers": checks.peers,
    "prometheus": checks.prometheus,
    "check-mode": converge.check_mode,
    "reload": checks.reload,
    "paths": checks.paths,
    "auth-server": checks.auth_server,
    "security-groups": checks.security_groups,
    "tls": TlsRenewal,
    "steering": Steering,
    "security-groups-kept": checks.security_groups_kept,
    "region-loss": RegionLoss,
    "upgrade": Upgrade,
    "second-run": converge.second_run,
    "upgrade-failure": UpgradeFailure,
}


def select(only):
    """The steps `--only` names (all when None), in their usual order; an unknown name is an error."""
    if not only:
        return list(STEPS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown:
        raise HarnessError(f"--only: unknown check(s) {', '.join(unknown)}; the checks are: " + ", ".join(STEPS))
    return [name for name in STEPS if name in wanted]


def test(only=None, world_only=False, keep=False):
    t0 = time.monotonic()
    chosen = select(only)  # a misspelt --only fails before anything starts
    if load_state():
        log("a previous sandbox is still up: taking it down first")
        lifecycle.down()
    try:
        state = lifecycle.up()
        if world_only:
            checks.world_checks(state)
        else:
            converge.first_converge(state)
            report = Report()
            for name in chosen:
                run_step(name, state, report)
            report.write(FIGURES)
            log("all checks passed")
    except BaseException:
        lifecycle.keep_logs()
        raise
    finally:
        if keep:
            log("--keep: leaving the sandbox up; `sandbox/sandbox down` removes it")
        else:
            lifecycle.down()
    log(f"sandbox test passed in {time.monotonic() - t0:.0f} s")
    return 0


def run_step(name, state, report):
    step = STEPS[name]
    if isinstance(step, type) and issubclass(step, Drill):
        run_drill(step(name, state, report))
    else:
        step(state)
