"""``hcfl settle``: settle yourself, another participant, or everyone, from the logs."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "settle", "settle yourself, another participant, or everyone (from the logs)",
                 "Settle a participant once the round is closed; anyone can settle anyone from the Revealed logs. "
                 "A participant that never revealed is settled as claiming all zeros and forfeits the "
                 "deployment's no-show penalty, which its line names.", run)
    p.add_argument("--who", help="the participant to settle (default: you)")
    p.add_argument("--all", action="store_true", help="every registered participant not yet settled")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    if args.who and args.all:
        raise ValueError("--who/--all: give one of them, not both")
    return print_step(pt.settle(open_session(args), args.who, args.all))
