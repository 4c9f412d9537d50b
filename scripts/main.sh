#!/usr/bin/env bash
# The main job: set everything up, then run two rounds of one HCFL deployment among
# independent agents on this machine (hcfl localnet): every owner and station its own OS
# process with its own key, data and config; a newcomer joins at round 2, a station leaves
# after round 1, and round 1's tax lowers the owners' cost in round 2. Extra arguments go to
# `hcfl localnet` (see `.venv/bin/hcfl localnet --help`, e.g. --rounds 3);
# `.venv/bin/hcfl round` is the one-process demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python -m hcfl_cli.main localnet "$@"
