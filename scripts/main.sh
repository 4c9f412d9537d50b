#!/usr/bin/env bash
# The main job: set everything up, then run one full HCFL crowdfunding round.
# Extra arguments go to `hcfl round` (see `.venv/bin/hcfl round --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hcfl round "$@"
