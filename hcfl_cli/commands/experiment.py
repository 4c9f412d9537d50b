"""``hcfl experiment fig3|fig4|fig5|bonus``: the paper's section V experiments, and the station
bonus's, as CSV and PNG."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser("experiment", help="reproduce the paper's figures 3-5, or the station bonus's (CSV + PNG)",
                       description="Reproduce one of the paper's section V experiments; writes FIG.csv and FIG.png.")
    p.add_argument("figure", choices=["fig3", "fig4", "fig5", "bonus"],
                   help="which figure (bonus: SPEC section 9's station bonus: utilities, accuracy and lies vs beta)")
    p.add_argument("--out", type=Path, default=Path("out/experiments"), help="output folder (default out/experiments)")
    p.add_argument("--rounds", type=int, help="auction/training rounds (default: the paper's, or small with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--quick", action="store_true", help="a reduced size that runs in seconds")
    p.add_argument("--data-dir", type=Path, help="fig4/fig5: train on CIFAR-10 from this folder (default: digits)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="fig4/fig5: training device")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    out_dir: Path = args.out
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"--rounds: must be at least 1, got {args.rounds}")
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
    elif args.figure == "fig4":
        from hcfl_cli.experiments.fig4 import Fig4Config, run_fig4, write_fig4

        cfg4 = Fig4Config(global_rounds=args.rounds or (2 if args.quick else 10), seed=args.seed,
                          local_epochs=1 if args.quick else 2, device=args.device,
                          **({"dataset": "cifar10", "data_dir": str(args.data_dir)} if args.data_dir else {}))
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig4: training both targets", total=2 * cfg4.global_rounds)
            r4 = run_fig4(cfg4, progress=lambda: bar.advance(task))
        paths = write_fig4(r4, out_dir)
        console.print(f"  common target {list(r4.core)}: VCG chose {list(r4.vcg_target)} -> "
                      f"{r4.vcg_accuracy[-1]:.1%}; random {list(r4.random_target)} -> {r4.random_accuracy[-1]:.1%}")
    elif args.figure == "bonus":
        from hcfl_cli.experiments.bonus import BonusConfig, run_bonus, write_bonus

        cfgb = BonusConfig.quick(args.seed) if args.quick else BonusConfig(seed=args.seed)
        if args.device != "auto":
            cfgb = dataclasses.replace(cfgb, device=args.device)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("bonus: trainings (one per data configuration)", total=None)
            rb = run_bonus(cfgb, progress=lambda: bar.advance(task))
        paths = write_bonus(rb, out_dir)
        for row in rb.rows:
            console.print(f"  beta {row.bonus_bps / 100:5.1f} %: clean-data stations {sum(row.good)}/{len(row.good)}, "
                          f"accuracy {row.accuracy:.1%}, station utilities (fixed data) "
                          f"{', '.join(f'{u:,.1f}' for u in row.fixed_utility_gwei)} Gwei; largest lie gain "
                          f"{row.max_lie_gain} wei <= bound {row.proved_bound} wei")
        console.print(f"  {rb.trainings} trainings; fixed data: stations {list(rb.cheap_fixed)} on shuffled labels, "
                      f"contributions {list(rb.fixed_contributions)}")
    else:
        from hcfl_cli.experiments.fig5 import STRATEGIES, Fig5Config, run_fig5, write_fig5

        cfg5 = Fig5Config(rounds=args.rounds or (3 if args.quick else 10), seed=args.seed,
                          global_rounds=1 if args.quick else 3, device=args.device,
                          **({"dataset": "cifar10", "data_dir": str(args.data_dir)} if args.data_dir else {}))
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig5: rounds x strategies", total=cfg5.rounds * len(STRATEGIES))
            r5 = run_fig5(cfg5, progress=lambda: bar.advance(task))
        paths = write_fig5(r5, out_dir)
        for s5 in STRATEGIES:
            console.print(f"  {s5:>8}: accumulated social utility {r5.accumulated(s5)[-1] / 1e9:,.1f} Gwei "
                          f"after {cfg5.rounds} rounds")
    console.print(f"{args.figure}: wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - t0:.1f} s")
    return 0

