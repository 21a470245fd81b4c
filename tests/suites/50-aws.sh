#!/usr/bin/env bash
# AWS suite: aws-pools.yml and aws-edge.yml against a moto server, for a two-region and a
# three-region cluster (every resource read back with boto3, idempotence with zero
# mutating calls, check mode, steering a region off and back, validation failures), and
# the inventory service's list mode on the world the playbooks made; what new hosts boot
# from (the config buckets, the boot policies, the user data, cluster-config.yml's publishing).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=tests/lib/suite.sh
. tests/lib/suite.sh
export PATH=$ROOT/.venv/bin:$PATH

jar=inventory-service/target/inventory-service.jar
[[ -f $jar ]] || fail "$jar is missing: build it with mvn -B -ntp -q -pl inventory-service -am package -DskipTests"

# The scenarios are independent worlds (each its own moto server): run them side by side.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for t in test_module_utils test_boot_policy test_iam_infrastructure test_iam_inventory_service test_iam_publisher test_iam_auth_storage test_iam_tls_issuer test_iam_rolling test_validation test_two_regions test_three_regions test_boot_config test_route53_checker_cidrs; do
  python -m pytest -q -p no:cacheprovider "tests/aws/$t.py" >"$logs/$t.log" 2>&1 &
  pids+=("$!:$t")
done
failed=0
for entry in "${pids[@]}"; do
  pid=${entry%%:*} t=${entry#*:}
  if wait "$pid"; then
    pass "$t: $(grep -E '[0-9]+ passed' "$logs/$t.log" | tail -1)"
  else
    cat "$logs/$t.log" >&2
    failed=1
    printf 'FAIL %s\n' "$t" >&2
  fi
done
((failed == 0)) || exit 1
echo "50-aws: $SUITE_PASSED test files passed"
