"""``hcfl report``: the winner's training report (model hash and URI, accuracy, contributions)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "report", "the winner's training report",
                 "Report the trained model (its sha256 from the file), its URI, the accuracy and one contribution "
                 "per station. The complete report ends the Train phase at once and starts the Vote phase's "
                 "clock.", run)
    p.add_argument("--model", type=Path, required=True, help="the trained model file")
    p.add_argument("--uri", default="", help="where the model file can be fetched")
    p.add_argument("--accuracy-bps", type=int, required=True, help="achieved accuracy, basis points")
    p.add_argument("--contributions", required=True, help="comma-separated, one per station in registration order")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt
    from hcfl_cli.inputs import parse_amounts

    contributions = parse_amounts(args.contributions, "--contributions")
    return print_step(pt.report(open_session(args), model=args.model, uri=args.uri, accuracy_bps=args.accuracy_bps,
                                contributions=contributions))
