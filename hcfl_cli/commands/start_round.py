"""``hcfl start-round``: open the deployment's next round once the current one is finalized
(anyone may; the agents do it after a finalize, the first one wins)."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "start-round", "open the next round once the current one is finalized",
                 "Open the deployment's next round: the recycle pool becomes its subsidy, announced before its "
                 "registration closes (SPEC section 5 step 8), and its Register phase starts.", run)
    p.add_argument("--after", type=int, metavar="ROUND", help="only after this round: already done if a later "
                   "round is open (someone else was first)")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.start_round(open_session(args), args.after))
