#!/usr/bin/env bash
# The test suite: set everything up, then run every test that CI runs (slow ones stay behind
# `-m slow`). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0
exec .venv/bin/python -m pytest -q -m "not slow" "$@"
