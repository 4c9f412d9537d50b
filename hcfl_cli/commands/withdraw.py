"""``hcfl withdraw``: pull your payout (settling first), your released bonds, or your bonus."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "withdraw", "withdraw your payout (settling first), or your released bonds",
                 "Pull your payout; settles you in the same transaction if you are not settled yet. Its line says "
                 "the amount paid (and, settled in the same transaction, the settlement).", run)
    p.add_argument("--bond", action="store_true", help="withdraw your proposals' released bonds instead")
    p.add_argument("--bonus", action="store_true",
                   help="a station: withdraw your contribution bonus instead, crediting it first once the round "
                        "is finalized (a deployment with --bonus-bps)")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    if args.bond and args.bonus:
        raise ValueError("--bond/--bonus: give one of them, not both")
    return print_step(pt.withdraw(open_session(args), bond=args.bond, bonus=args.bonus))
