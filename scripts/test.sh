#!/usr/bin/env bash
# The test suite: set everything up, then run every test that CI runs (slow ones stay behind
# `-m slow`). Extra arguments go to pytest (`./scripts/test.sh -m slow`,
# `./scripts/test.sh tests/test_x.py -k y`).
#
# The tests run in parallel on every core (pytest-xdist, `-n auto`), a test file to a worker
# (`--dist loadfile`: a module's node or deployment is set up once, in one worker), the
# longest files first (tests/conftest.py's SLOWEST_FILES_FIRST). A run of
# one test file (or of tests of one file) gets no workers, which would cost more to start
# than they save; so does a run given its own `-n` or `-p no:xdist`.
# HCFL_TEST_WORKERS=N sets the number of workers (0: none).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0

parallel=(-n "${HCFL_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder)
files=() folders=0
for arg in "$@"; do
  case "$arg" in
    -n|-n?*|--numprocesses*|no:xdist|-pno:xdist) parallel=() ;;
  esac
  path=${arg%%::*}  # tests/test_x.py::test_y names a test of tests/test_x.py
  if [ -d "$path" ]; then
    folders=$((folders + 1))
  elif [ -f "$path" ] && [[ " ${files[*]-} " != *" $path "* ]]; then
    files+=("$path")
  fi
done
if [ "$folders" -eq 0 ] && [ "${#files[@]}" -eq 1 ]; then
  parallel=()
fi
exec .venv/bin/python -m pytest -q -m "not slow" "${parallel[@]}" "$@"
