"""``hcfl reveal``: open your commitment with the stored secret (or re-derive a lost salt)."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_claims_options, add_step, open_session, print_step


def add_parser(sub: Any) -> None:
    p = add_step(sub, "reveal", "reveal your sealed claims",
                 "Open your commitment with the stored secret; --claims re-derives a lost secret's salt from the "
                 "key.", run)
    add_claims_options(p)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt
    from hcfl_cli.inputs import read_claims

    claims = read_claims(args.claims, args.claims_file)
    return print_step(pt.reveal(open_session(args), claims))
