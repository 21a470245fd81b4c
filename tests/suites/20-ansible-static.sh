#!/usr/bin/env bash
# Ansible static suite: lint (production profile), syntax of every playbook,
# defaults/argument_specs/docs sync, teleport.yaml and node-agent rendering
# through real Ansible (validated by the Teleport test double when it can be
# built), preflight and inventory validation failures.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH ANSIBLE_CONFIG=$ROOT/ansible.cfg ANSIBLE_NOCOLOR=1

echo "--- yamllint"
yamllint -s roles playbooks collections awx tests/ansible tests/awx execution-environment.yml .ansible-lint .yamllint

echo "--- ansible-lint (production profile, offline)"
ansible-lint --offline -q roles playbooks collections

echo "--- syntax check"
# One ansible-playbook for every playbook: a failure names its file.
playbooks=(playbooks/*.yml)
ansible-playbook --syntax-check -i localhost, "${playbooks[@]}" >/dev/null
echo "ok: ${#playbooks[@]} playbooks"

# The double validates rendered teleport.yaml with `teleport configure --test`;
# its build script caches by source hash, so this is cheap when already built.
if [[ -x tests/teleport-double/build.sh ]] && command -v go >/dev/null; then
  echo "--- teleport test double"
  tests/teleport-double/build.sh >/dev/null
fi

echo "--- pytest tests/ansible"
python -m pytest -q -p no:cacheprovider tests/ansible
