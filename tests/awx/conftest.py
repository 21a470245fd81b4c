"""Fixtures for the AWX tests: awx/objects.yml as Ansible reads it, and the AWX API double seeded with what
an AWX installation and its operator already have (an organization, the execution environment, the managed
credential types, the operator's own credentials) and with objects this project never made."""
from pathlib import Path

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader

from harness.ansible import ansible_env, run_playbook
from harness.awx_api_double import AwxApiDouble
from harness.util import REPO

OBJECTS = Path(REPO, "awx/objects.yml")
TOKEN = "awx-double-token-never-printed"
MARKER = "[managed by teleport-ha-aws playbooks/awx.yml]"


def load_objects(path=OBJECTS):
    """awx/objects.yml with Ansible's loader (its injectors are !unsafe)."""
    return yaml.load(Path(path).read_text(), Loader=AnsibleLoader)  # noqa: S506 - Ansible's own safe loader


def seed(world):
    org = world.seed("organizations", name="Default")
    other_org = world.seed("organizations", name="Other team")
    world.seed("execution_environments", name="Teleport HA EE", image="registry.example.com/teleport-ha-ee:1")
    machine = world.seed("credential_types", name="Machine", kind="ssh", managed=True,
                         inputs={"fields": [{"id": "username", "type": "string"},
                                            {"id": "ssh_key_data", "type": "string", "secret": True}]})
    aws = world.seed("credential_types", name="Amazon Web Services", kind="cloud", managed=True,
                     inputs={"fields": [{"id": "username", "type": "string"},
                                        {"id": "password", "type": "string", "secret": True}]})
    world.seed("credentials", name="Teleport hosts SSH", organization=org["id"], credential_type=machine["id"],
               inputs={"username": "admin", "ssh_key_data": "KEY"}, description="the operator's")
    world.seed("credentials", name="Teleport AWS", organization=org["id"], credential_type=aws["id"],
               inputs={"username": "AKIA", "password": "SECRET"}, description="the operator's")
    # Not this project's: no marker, or the marker in another organization.
    theirs = world.seed("projects", name="Someone else's project", organization=org["id"], scm_type="git")
    world.seed("job_templates", name="Someone else's job", organization=org["id"], project=theirs["id"],
               playbook="site.yml", description="made by hand")
    world.seed("job_templates", name="Teleport: AWS pools", organization=other_org["id"], project=theirs["id"],
               playbook="playbooks/aws-pools.yml", description=f"another team's copy {MARKER}")


@pytest.fixture(scope="module")
def awx():
    with AwxApiDouble(REPO, TOKEN) as double:
        seed(double.world)
        yield double


@pytest.fixture
def fresh_awx():
    with AwxApiDouble(REPO, TOKEN) as double:
        seed(double.world)
        yield double


def apply(awx, tmp_path, *args, objects=None):
    """Runs playbooks/awx.yml against the double (harness.ansible.run_playbook); objects: another file."""
    extra = {"awx_inventory_service_token": "inventory-token-never-printed",
             "awx_scm_url": "https://git.example.com/teleport-ha-aws.git"}
    if objects is not None:
        extra["awx_objects_file"] = str(objects)
    n = len(list(tmp_path.glob("awx-*.log")))
    return run_playbook("awx.yml", None, extra, *args, log=tmp_path / f"awx-{n}.log", timeout=600,
                        env=ansible_env(CONTROLLER_HOST=awx.url, CONTROLLER_OAUTH_TOKEN=TOKEN))
