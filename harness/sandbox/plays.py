"""Ansible in the sandbox, through harness.ansible.run_playbook: each run's output in
sandbox/state/ansible-<name>.log, its time in state["timings"]["<name>_seconds"], and a failure
raised with the log's tail.

  hosts_env(state)    the environment of the runs on the hosts (site.yml, tls.yml, upgrade.yml): the
                      real inventory script, SSH checked the product's way, AWS as moto with ELBv2
                      through the target health double and EC2 through the ec2-double
  aws_env(endpoint)   the AWS playbooks' (aws-pools.yml, aws-edge.yml): AWS as moto, no host
"""
import os

from ..ansible import ansible_env, run_playbook, runner_job
from ..util import REPO, HarnessError, log
from . import world
from .state import SSH_KEY, STATE_DIR

INVENTORY_SCRIPT = os.path.join(REPO, "playbooks", "inventory", "teleport_inventory.py")


def hosts_env(state):
    return ansible_env(
        aws=state["moto"]["endpoint"], ssh="checked",
        # restart.yml drains and rejoins through the target health double; EC2 as the ec2-double answers
        # it (console output from the hosts, moto for the rest).
        AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=state["edge"]["elbv2_double"]["endpoint"],
        AWS_ENDPOINT_URL_EC2=state["ec2_double"]["endpoint"],
        TELEPORT_INVENTORY_URL=state["inventory"]["url"],
        TELEPORT_INVENTORY_TOKEN_FILE=state["inventory"]["token_file"],
        TELEPORT_INVENTORY_CA_FILE=state["inventory"]["ca_file"],
        ANSIBLE_REMOTE_USER="root", ANSIBLE_PRIVATE_KEY_FILE=SSH_KEY)


def aws_env(endpoint):
    return ansible_env(aws=endpoint, AWS_REGION=world.REGIONS[0]["name"])


def play(state, book, name, *args, extra_vars, inventory=INVENTORY_SCRIPT, env=None, check=True, awx=False):
    """Runs book in the sandbox as the run `name` (the hosts' environment unless env is given);
    returns its harness.ansible.Run, and raises when it fails unless check=False. awx: as an AWX job
    template runs it (harness.ansible.runner_job: ansible-runner, the project's ansible.cfg, no Java)."""
    logfile = os.path.join(STATE_DIR, f"ansible-{name}.log")
    log(f"{book} ({name}){' through ansible-runner, as an AWX job' if awx else ''}{''.join(' ' + str(a) for a in args)}")
    env = hosts_env(state) if env is None else env
    if awx:
        run = runner_job(book, inventory, extra_vars, *args, log=logfile, env=env)
    else:
        run = run_playbook(book, inventory, extra_vars, *args, log=logfile, env=env)
    state.setdefault("timings", {})[f"{name}_seconds"] = round(run.seconds, 1)
    if check and run.rc != 0:
        raise HarnessError(f"{book} ({name}) failed (exit {run.rc}) after {run.seconds:.0f} s; log {logfile}:\n{run.tail()}")
    log(f"{book} ({name}) exited {run.rc} in {run.seconds:.0f} s: changed={sum(r.get('changed', 0) for r in run.recap.values())} "
        f"over {len(run.recap)} hosts")
    return run
