#!/usr/bin/env bash
# Boot suite: teleport-ha-boot's logic (roles/boot_kit/files/teleport_ha_boot.py) against moto, a fake
# IMDSv2 and a recording stub of Auto Scaling's lifecycle calls, which moto does not implement: the launch
# hook completed CONTINUE once the published configuration is verified and the gates pass, ABANDON with a
# named reason otherwise; the termination drain; the liveness report.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
python -m pytest -q -p no:cacheprovider tests/boot
