#!/usr/bin/env bash
# The main job: set everything up, then run one whole HCFL round among independent agents
# on this machine (hcfl localnet): every owner and station its own OS process with its own
# key, data and config. Extra arguments go to `hcfl localnet` (see `.venv/bin/hcfl localnet
# --help`); `.venv/bin/hcfl round` is the one-process demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python -m hcfl_cli.main localnet "$@"
