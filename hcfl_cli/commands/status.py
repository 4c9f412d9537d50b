"""``hcfl status``: the round, its phase and deadline, the proposals, your state and next step."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_chain_options, open_session, say


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="the round, its phase and deadline, the proposals, your state and next step",
                       description="Show the current round: phase and deadline, the proposals in proposal-index "
                       "order (the order of --claims; welfare once closed), this participant's state and the next "
                       "command to run. Sends nothing.")
    add_chain_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.round_status import status

    r = status(open_session(args, catch_up=False))  # a look, not a step: it waits for nothing
    left = max(0, r.deadline - r.now)
    say(f"round {r.round_id}: {r.phase}" + ("" if r.phase == "Finalized" else f", deadline {r.deadline} ({left} s from now)"))
    for p in r.proposals:
        w = "" if p.welfare is None else f", welfare {p.welfare}"
        star = " (winner)" if r.winner == p.index else ""
        say(f"  proposal {p.index}{star}: budget {p.budget} wei, bond {p.bond} wei by {p.proposer}{w}"
            + (f", {p.uri}" if p.uri else ""))
    who = f"{r.role}, {', '.join(r.status) or 'registered'}, amount {r.amount} wei" if r.role else "not registered"
    say(f"you ({r.address}): {who}")
    say(f"next: {r.next_action}")
    return 0
