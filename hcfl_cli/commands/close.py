"""``hcfl close``: end the Reveal phase once its deadline passed: the winner is chosen."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    add_step(sub, "close", "end the Reveal phase: choose the winner", "Close the round once the Reveal deadline passed.",
             run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.close(open_session(args)))
