#!/usr/bin/env bash
# Lint of every language but Ansible/YAML (20-ansible-static.sh) and Java (the
# format check inside `mvn verify`): shell with shellcheck, Python with ruff,
# Go with gofmt and go vet; and the test harness's shape (tests/harness: its
# modules import one way, nothing edits sys.path, one module runs ansible-playbook).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH=$PATH:/usr/local/go/bin; fi

echo "--- shellcheck"
mapfile -t scripts < <(git ls-files '*.sh')
shellcheck -x "${scripts[@]}"
echo "ok: ${#scripts[@]} shell scripts"

echo "--- ruff (ruff.toml)"
ruff check .

echo "--- the harness's shape (tests/harness)"
python -m pytest -q -p no:cacheprovider tests/harness

echo "--- gofmt, go vet"
mapfile -t modules < <(git ls-files '*go.mod' | xargs -r -n1 dirname)
for m in "${modules[@]}"; do
  unformatted=$(gofmt -l "$m")
  [[ -z $unformatted ]] || { echo "gofmt: not formatted (run gofmt -w):"; echo "$unformatted"; exit 1; }
  (cd "$m" && go vet ./...)
  echo "ok: $m"
done
# Go sources built from a template module (sandbox/edge/coredns: go.mod.in).
unformatted=$(gofmt -l sandbox/edge)
[[ -z $unformatted ]] || { echo "gofmt: not formatted (run gofmt -w):"; echo "$unformatted"; exit 1; }
