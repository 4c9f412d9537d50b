"""The ``hcfl`` command: a full crowdfunding round, its audit, the paper's experiments.

Each subcommand parses its options, calls a library function, and prints with rich; errors
in the user's input end with one line naming the option (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

console = Console()


def _cmd_demo(args: argparse.Namespace) -> int:
    from hcfl_cli.report import participants_table, proposals_table
    from hcfl_cli.scenario import load_scenario, sample_scenario
    from mechanism import settle

    sc = load_scenario(args.scenario) if args.scenario else sample_scenario(args.seed)
    out = settle(**sc.profile(), rule=args.rule)
    console.print(proposals_table(sc, out))
    console.print(participants_table(sc, out))
    console.print(f"winner: {out.winner}   surplus (taxes + dust) to the recycle pool: {out.surplus:,} wei")
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    out_dir: Path = args.out
    t0 = time.perf_counter()
    if args.figure == "fig3":
        from hcfl_cli.experiments.fig3 import Fig3Config, run_fig3, write_fig3

        cfg = Fig3Config(rounds=args.rounds or (20 if args.quick else 100), seed=args.seed)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig3: auctions", total=cfg.rounds * len(cfg.series_keys()))
            result = run_fig3(cfg, progress=lambda: bar.advance(task))
        paths = write_fig3(result, out_dir)
        for key in cfg.series_keys():
            console.print(f"  {key[0]:>6} dishonesty {key[1]:.0%} ({key[2]} lie): accumulated utility "
                          f"{result.accumulated(key)[-1] / 1e9:,.1f} Gwei after {cfg.rounds} rounds")
    else:
        raise ValueError(f"figure: {args.figure} is not available yet")
    console.print(f"{args.figure}: wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcfl",
        description="Truthful crowdfunding for hierarchical federated learning: run a round on a chain, "
        "audit it, reproduce the paper's experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="settle a sample scenario with the reference mechanism only (no chain)",
                          description="Settle a scenario with mechanism.settle and print the outcome.")
    demo.add_argument("--scenario", type=Path, help="JSON/TOML scenario file (default: a seeded sample)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the sample scenario (default 0)")
    demo.add_argument("--rule", choices=["clarke", "paper"], default="clarke", help="tax rule (default clarke)")
    demo.set_defaults(func=_cmd_demo)

    exp = sub.add_parser("experiment", help="reproduce the paper's figures 3-5 (CSV + PNG)",
                         description="Reproduce one of the paper's section V experiments; writes FIG.csv and FIG.png.")
    exp.add_argument("figure", choices=["fig3", "fig4", "fig5"], help="which figure")
    exp.add_argument("--out", type=Path, default=Path("out/experiments"), help="output folder (default out/experiments)")
    exp.add_argument("--rounds", type=int, help="auction/training rounds (default: the paper's, or small with --quick)")
    exp.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    exp.add_argument("--quick", action="store_true", help="a reduced size that runs in seconds")
    exp.set_defaults(func=_cmd_experiment)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as e:
        # Bad input: one line naming the option or field, no traceback.
        print(f"hcfl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hcfl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
