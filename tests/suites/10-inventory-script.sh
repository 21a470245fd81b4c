#!/usr/bin/env bash
# The Ansible/AWX inventory script against a real moto server and a real inventory-service.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/.venv/bin:$PATH
exec python -m pytest -q -p no:cacheprovider tests/inventory
