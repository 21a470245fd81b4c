"""The test harness: one package for the sandbox, the labs, the suites and the benches, installed into
.venv by scripts/install-deps.sh (pip install -e ., pyproject.toml); it imports nothing from tests/."""
