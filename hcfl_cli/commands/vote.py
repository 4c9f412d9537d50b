"""``hcfl vote``: an owner other than the winner votes whether the winner missed its promise."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "vote", "vote whether the winner missed its promise (an owner, not the winner)",
                 "Vote whether to punish the winner (slash its bond).", run)
    p.add_argument("--punish", choices=["yes", "no"], required=True, help="yes: the model misses the promise")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.vote(open_session(args), args.punish == "yes"))
