#!/usr/bin/env bash
# Idempotent set-up: a .venv in the project with the pinned packages, the project itself
# (editable, for the `hcfl` command), the anvil binary from npm in .tools/, and Debian's
# chromium for the web page's browser tests (as root, where apt-get is).
# Re-running it does nothing unless requirements.lock or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
ANVIL_VERSION=1.7.1

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi

want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
stamp=.venv/.hcfl-installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned packages into .venv (first time: a few minutes)"
  # The machine's local package mirrors print one harmless warning per package: drop those.
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" > "$stamp"
fi

# anvil: the binary ships inside the npm package; only x86-64 Linux has that package.
anvil=.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if [ ! -x "$anvil" ]; then
  if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && command -v npm >/dev/null 2>&1; then
    echo "setup: installing anvil $ANVIL_VERSION from npm into .tools/"
    mkdir -p .tools
    npm install --silent --no-audit --no-fund --prefix .tools "@foundry-rs/anvil-linux-amd64@$ANVIL_VERSION" >/dev/null
  else
    echo "setup: no npm or not x86-64 Linux: anvil not installed (tests that need it are skipped)"
  fi
fi

# chromium: the browser that tests hcfl web's page (driven by playwright, which downloads no
# browser of its own). Debian's package, installed as root; elsewhere those tests are skipped.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium from Debian's packages (the web page's browser tests)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium >/dev/null; }; then
      echo "setup: could not install chromium: the browser tests are skipped (and fail in CI)"
    fi
  else
    echo "setup: chromium not found and not root with apt-get: the browser tests are skipped (and fail in CI)"
  fi
fi
