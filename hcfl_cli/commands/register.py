"""``hcfl register``: register in the current round with a ticket and a deposit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_step, open_session, print_step, wei


def add_parser(sub: Any) -> None:
    p = add_step(sub, "register", "register with a ticket and a deposit", "Register in the current round.", run)
    p.add_argument("--ticket", type=Path, help="the admission ticket file from the organizer (hcfl admit)")
    p.add_argument("--deposit", type=wei, required=True, help="the deposit, wei")
    p.add_argument("--role", choices=["owner", "station"], help="the role (only an open deployment needs it)")
    p.add_argument("--node-public-key", type=Path, help="a station's Flower node public key file (hcfl node-key; "
                   "published)")


def run(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    return print_step(pt.register(open_session(args), ticket=args.ticket, deposit=args.deposit, role=args.role,
                                  node_public_key_file=args.node_public_key))
