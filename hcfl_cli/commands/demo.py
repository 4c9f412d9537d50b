"""``hcfl demo``: settle a scenario with the reference mechanism only (no chain)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="settle a sample scenario with the reference mechanism only (no chain)",
                       description="Settle a scenario with mechanism.settle and print the outcome.")
    p.add_argument("--scenario", type=Path, help="JSON/TOML scenario file (default: a seeded sample)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample scenario (default 0)")
    p.add_argument("--rule", choices=["clarke", "paper"], default="clarke", help="tax rule (default clarke)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.report import participants_table, proposals_table
    from hcfl_cli.scenario import load_scenario, sample_scenario
    from mechanism import settle

    sc = load_scenario(args.scenario) if args.scenario else sample_scenario(args.seed)
    out = settle(**sc.profile(), rule=args.rule)
    console.print(proposals_table(sc, out))
    console.print(participants_table(sc, out))
    console.print(f"winner: {out.winner}   surplus (taxes + dust) to the recycle pool: {out.surplus:,} wei")
    return 0
