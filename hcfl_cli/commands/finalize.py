"""``hcfl finalize``: end the Vote phase once its deadline passed: slash or release the bond."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    add_step(sub, "finalize", "end the Vote phase: slash or release the bond", "Finalize once the Vote deadline passed.",
             run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.finalize(open_session(args)))
