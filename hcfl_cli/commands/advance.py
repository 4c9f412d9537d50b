"""``hcfl advance``: end the current phase once its deadline passed (anyone may; the Reveal
phase ends by ``hcfl close``, the Vote phase by ``hcfl finalize``)."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "advance", "end the current phase once its deadline passed",
                 "Move the round to its next phase (Reveal ends by close, Vote by finalize).", run)
    p.add_argument("--from", dest="from_phase", help="only from this phase: already done if past it")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.advance(open_session(args), args.from_phase))
