"""``hcfl fund``: top accounts up to an amount of wei with plain transfers, from your key or, on a
development chain, from anvil's first development account (no other wallet needed)."""

from __future__ import annotations

import argparse
from typing import Any

from hcfl_cli.commands.common import add_chain_options, key_options, print_planned, say, wei


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fund", help="top accounts up to an amount of wei (the organizer, or anvil's dev account)",
                       description="Send each --to address what it lacks of --amount wei, from your key; without a "
                       "key option, from anvil's first development account, which only a development chain (chain "
                       "31337 or 1337) accepts. An address that holds the amount already is left alone, so a re-run "
                       "sends nothing. Transfers go through the outbox like every other transaction.")
    add_chain_options(p, deployment=False)
    p.add_argument("--to", action="append", required=True, metavar="ADDRESS", help="an address to fund (repeatable)")
    p.add_argument("--amount", type=wei, required=True, help="what each address should hold at least, wei")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.organizer import fund

    given = any(getattr(args, k) is not None for k in ("account", "keystore", "private_key"))
    done = fund(args.rpc, key_options(args) if given else None, args.to, args.amount, dry_run=args.dry_run,
                max_fee=args.max_fee)
    for f in done:
        if f.sent is not None:
            say(f"transfer: mined, gas {f.sent.gas}, transaction {f.sent.hash}: {f.address} now holds {f.after} wei "
                f"(was {f.before})")
        elif f.planned is not None:
            say("dry run, nothing sent:")
            print_planned(f.planned)
        else:
            say(f"already done: {f.address} holds {f.before} wei")
    return 0
