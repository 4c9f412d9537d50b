"""``hcfl deploy``: deploy the contract from the organizer's key and write the deployment file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import add_chain_options, gwei, key_options, say, wei


def add_parser(sub: Any) -> None:
    from contracts.constants import DEFAULT_DEPOSIT_PER_WEIGHT, DEFAULT_MAX_PROPOSALS, DEFAULT_PHASE_SECONDS

    p = sub.add_parser("deploy", help="deploy the contract and write the deployment file (the organizer)",
                       description="Deploy HCFL from your key and write the deployment file (chain id, "
                       "address, block, transaction, code hash and parameters) that every other command reads. "
                       "Run again with the same options, it finds its file (or, killed before it wrote it, the "
                       "contract its first run created) and sends nothing.")
    add_chain_options(p, deployment=False)
    p.add_argument("--out", type=Path, required=True, help="the deployment file to write (never overwritten)")
    p.add_argument("--phases", default=",".join(map(str, DEFAULT_PHASE_SECONDS)),
                   help="seconds of Register,Propose,Commit,Reveal,Train,Vote (default %(default)s)")
    p.add_argument("--penalty", type=wei, default=0, help="no-show penalty, wei (default 0)")
    p.add_argument("--min-bond", type=wei, default=1, help="least responsibility bond, wei (default 1)")
    p.add_argument("--organizer", default="self", help="who signs the tickets: an address, or 'self' (default)")
    p.add_argument("--open", action="store_true", help="an open deployment: no organizer, no tickets")
    p.add_argument("--deposit-per-weight", type=wei, default=DEFAULT_DEPOSIT_PER_WEIGHT,
                   help="least owner deposit per unit of weight, wei (default %(default)s)")
    p.add_argument("--max-proposals", type=int, default=DEFAULT_MAX_PROPOSALS,
                   help="proposals per owner and round in an open deployment (default %(default)s)")
    p.add_argument("--bonus-bps", type=int, default=0,
                   help="station bonus fraction in basis points, 0..10000: that part of the winner's budget is "
                        "shared by the stations' reported contributions, the rest by weight (SPEC section 9; "
                        "default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contracts.parameters import parse_phase_seconds
    from hcfl_cli.organizer import deploy

    r = deploy(args.rpc, key_options(args), args.out, phase_seconds=parse_phase_seconds(args.phases, "--phases"),
               no_show_penalty=args.penalty, min_bond=args.min_bond, organizer=None if args.open else args.organizer,
               deposit_per_weight=args.deposit_per_weight, max_proposals=args.max_proposals, dry_run=args.dry_run,
               bonus_bps=args.bonus_bps, max_fee=args.max_fee)
    f = r.file
    if r.already:
        say(f"already done: {args.out} is the deployment {f.address} on chain {f.chain_id} (block {f.block}) "
            "with these options")
        return 0
    if r.planned is not None:
        p = r.planned
        say(f"dry run, nothing sent: would deploy with {p.args}: gas estimate {p.gas_estimate}, limit "
            f"{p.gas_limit}, fee up to {gwei(p.max_fee_per_gas)}/gas")
        return 0
    for note in r.notes:
        say(note)
    say(f"deployed {f.address} on chain {f.chain_id} in block {f.block}; wrote {r.path}")
    return 0
