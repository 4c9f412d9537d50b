"""``hcfl propose``: an owner posts a proposal with its bond and description document."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step, wei


def add_parser(sub: Any) -> None:
    p = add_step(sub, "propose", "post a proposal with its bond and description document (an owner)",
                 "Post a proposal: its description document's sha256 goes on chain, its URI into the log.", run)
    p.add_argument("--budget", type=wei, required=True, help="the budget C_m, wei")
    p.add_argument("--bond", type=wei, required=True, help="the responsibility bond, wei")
    p.add_argument("--document", type=Path, required=True, help="the proposal's description document")
    p.add_argument("--uri", default="", help="where the document can be fetched")
    p.add_argument("--accuracy-bps", type=int, default=0, help="promised accuracy, basis points")
    p.add_argument("--training-rounds", type=int, default=1, help="global training rounds (default 1)")
    p.add_argument("--label-mask", type=int, default=2**10 - 1, help="target labels, one bit each")
    p.add_argument("--param-count", type=int, default=0, help="the model's parameter count")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.propose(open_session(args), budget=args.budget, bond=args.bond, document=args.document,
                                 uri=args.uri, accuracy_bps=args.accuracy_bps, training_rounds=args.training_rounds,
                                 label_mask=args.label_mask, param_count=args.param_count))
