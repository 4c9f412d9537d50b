"""``hcfl admit``: the organizer signs an admission ticket for one participant (offline)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_key_options, key_options, open_session, print_step, say, wei


def add_parser(sub: Any) -> None:
    p = sub.add_parser("admit", help="sign an admission ticket for one participant (the organizer, offline)",
                       description="Sign an EIP-712 admission ticket with the organizer's key and write it as "
                       "a JSON file for the participant to register with. Needs no node; with --rpc, the expiry "
                       "is counted from the chain's latest block time, the clock the contract checks.")
    p.add_argument("--deployment", required=True, type=Path, help="the deployment file")
    p.add_argument("--address", required=True, help="the participant's address")
    p.add_argument("--role", choices=["owner", "station"], help="its role (required to sign a ticket)")
    p.add_argument("--weight", type=int, default=1, help="its weight (default 1)")
    p.add_argument("--max-proposals", type=int, help="an owner's proposal allowance (default: the deployment's)")
    p.add_argument("--node-public-key", type=Path, help="a station's Flower node public key file (hcfl node-key)")
    p.add_argument("--valid-for", type=int, default=30 * 86_400, help="seconds from now (default 30 days)")
    p.add_argument("--rpc", help="count --valid-for from this node's latest block time (default: this "
                   "machine's clock, offline)")
    p.add_argument("--round", type=int, default=0, help="admit to this round only (default 0: every round)")
    p.add_argument("--out", type=Path, help="the ticket file to write (required to sign a ticket)")
    p.add_argument("--revoke", action="store_true",
                   help="revoke --address's admission on chain instead (needs --rpc): it cannot register from now "
                        "on, in this round or later ones; registered in this round, it keeps its rights there")
    p.add_argument("--max-fee", type=wei, help="--revoke: the highest fee per gas a resend may offer, wei "
                   "(default: twice the first send's)")
    p.set_defaults(dry_run=False)
    add_key_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.organizer import admit

    if args.revoke:
        return revoke(args)
    for option, given in (("--role", args.role), ("--out", args.out)):
        if given is None:
            raise ValueError(f"{option}: required to sign a ticket")
    r = admit(args.deployment, key_options(args), args.out, participant=args.address, role=args.role,
              weight=args.weight, max_proposals=args.max_proposals, node_public_key_file=args.node_public_key,
              valid_for=args.valid_for, round_id=args.round, rpc=args.rpc)
    say(f"admitted {r.participant} as {r.role} of weight {r.weight} until {r.expiry}; wrote {r.path}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    """``hcfl admit --revoke``: the organizer revokes an address's admission on chain."""
    from hcfl_cli.organizer import revoke_admission

    if args.rpc is None:
        raise ValueError("--rpc: --revoke sends a transaction: name the node")
    return print_step(revoke_admission(open_session(args), args.address))
