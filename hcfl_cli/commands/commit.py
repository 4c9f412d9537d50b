"""``hcfl commit``: seal your claims, one per proposal in proposal-index order."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_claims_step, run_claims_step


def add_parser(sub: Any) -> None:
    add_claims_step(sub, "commit", "commit your sealed claims",
                    "Seal your claims (one per proposal, in proposal-index order, wei); the claims and the salt are "
                    "stored encrypted in $HCFL_HOME/secrets before the commit is sent. Re-run before the Commit "
                    "deadline, it checks the stored secret against the chain and re-commits if they differ.", run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return run_claims_step(args, pt.commit)
