"""``hcfl reveal``: open your commitment with the stored secret (or re-derive a lost salt)."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_claims_step, run_claims_step


def add_parser(sub: Any) -> None:
    add_claims_step(sub, "reveal", "reveal your sealed claims",
                    "Open your commitment with the stored secret; --claims re-derives a lost secret's salt from the "
                    "key.", run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return run_claims_step(args, pt.reveal)
