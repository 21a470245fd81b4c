#!/usr/bin/env bash
# AWX as code, without an AWX server: awx/objects.yml against the awx.awx modules' argument specs, and
# playbooks/awx.yml applied to the AWX API double (harness/awx_api_double.py): everything made, a second
# apply changed=0, an object dropped from the file removed and nothing else, AWX's refusals fail the run.
# Needs awx.awx in build/collections (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH ANSIBLE_CONFIG=$ROOT/ansible.cfg ANSIBLE_NOCOLOR=1
python -m pytest -q -p no:cacheprovider tests/awx
