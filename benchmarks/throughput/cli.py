"""The command line: ``python -m benchmarks.throughput`` (``--help`` says what it does).

Parses and checks the options, starts the nodes, runs the sweeps, writes the CSVs, the JSON
and the plot, and prints the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks._load_rounds import shape_for_rate
from benchmarks.throughput.baseline import run_boa
from benchmarks.throughput.chain import ON_DEMAND_KIND, node_label
from benchmarks.throughput.plan import MINE_INTERVAL, Settings
from benchmarks.throughput.report import Row, gas_table, label, plot, summary, table, \
    write_csv
from benchmarks.throughput.runner import RoundRunner, run_scale, sweep, transfer_sweep
from contracts import nodes

FULL_RATES = [1, 2, 5, 20, 100, 500, 1000, 2000, 3000, 4000]
QUICK_RATES = [300]
TRANSFER_RATES = [500, 1000, 2000, 4000, 8000]
QUICK_TRANSFER_RATES = [2000]


def _positive_floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not vals or any(not v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive rates, got {text!r}")
    return vals


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description="Contract throughput on a real Ethereum node (paper's figure 6): whole "
                    "HCFL rounds and plain transfers at growing generation rates.")
    p.add_argument("--quick", action="store_true",
                   help="CI run: anvil with on-demand mining only, 300 round tx/s and 2000 "
                        "transfers/s, short windows, no gas calibration")
    p.add_argument("--out", type=Path, default=Path("out/throughput"),
                   help="folder for throughput.csv, throughput_transfers.csv, .json, .png "
                        "(default: out/throughput)")
    p.add_argument("--node", choices=["anvil", "geth"], default="anvil",
                   help="node to start (default anvil; geth needs a geth binary on PATH)")
    p.add_argument("--rpc", help="use this running node instead of starting one")
    p.add_argument("--block-time", type=float, action="append", dest="block_times",
                   help="seconds per block (0 = automine); repeat for several nodes "
                        "(default: 0 and 1; with --quick: 0)")
    p.add_argument("--rates", type=_positive_floats,
                   help="comma-separated round generation rates, tx/s (default: 1 .. 4000, "
                        "stopping after saturation)")
    p.add_argument("--transfer-rates", type=_positive_floats,
                   help="comma-separated plain-transfer rates (default: 500 .. 8000)")
    p.add_argument("--window", type=float, default=None,
                   help="seconds of steady state measured per rate (default 6, quick 3)")
    p.add_argument("--warmup", type=float, default=None, metavar="SECONDS",
                   help="seconds of rounds before the window opens, for the pipeline of "
                        "overlapping rounds to fill (default: one round's length, at most 20; "
                        "0 for a smoke run that only checks that rounds complete)")
    p.add_argument("--anvil-automine", action="store_true",
                   help="with block time 0, use anvil's own automine instead of on-demand "
                        "mining (anvil 1.7.1's automine leaves ready transactions unmined and "
                        "stalls requests under sustained load; the load generator then mines "
                        "them with evm_mine after 0.25 s and counts these 'kicks')")
    p.add_argument("--mine-interval", type=float, default=MINE_INTERVAL, metavar="SECONDS",
                   help="with on-demand mining, the least time between the starts of two "
                        f"blocks (default {MINE_INTERVAL}; 0 = a block as soon as the last one "
                        "is built)")
    p.add_argument("--no-boa", action="store_true", help="skip the titanoboa baseline")
    p.add_argument("--no-scale", action="store_true",
                   help="skip the scale of one round (64 to 1,024 participants, 32 proposals; "
                        "never run with --quick)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file or CI: no 80-column squeeze of the table
        console = Console(width=200)
    if not 0 <= args.mine_interval <= 1:
        parser.error(f"--mine-interval: expected seconds in [0, 1], got {args.mine_interval}")
    if args.window is not None and not args.window > 0:
        parser.error(f"--window: expected seconds > 0, got {args.window}")
    if args.warmup is not None and not args.warmup >= 0:
        parser.error(f"--warmup: expected seconds >= 0, got {args.warmup}")
    block_times = args.block_times or ([0.0] if args.quick or args.rpc else [0.0, 1.0])
    if any(b < 0 for b in block_times):
        parser.error("--block-time: expected seconds >= 0")
    if args.rpc and len(block_times) > 1:
        parser.error("--rpc: give at most one --block-time (the node's own)")
    rates = args.rates or (QUICK_RATES if args.quick else FULL_RATES)
    t_rates = args.transfer_rates or (QUICK_TRANSFER_RATES if args.quick else TRANSFER_RATES)
    settings = Settings(window_s=args.window or (3.0 if args.quick else 6.0),
                        warmup_s=args.warmup,
                        min_window_txs=10 if args.quick else 30, quick=args.quick,
                        mine_interval=args.mine_interval)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out: cannot create {args.out}: {exc}")

    rows: list[Row] = []
    extra: dict[str, Any] = {"scale": [], "boa": None, "calibration_gas": {}}

    def progress(row: Row) -> None:
        console.print(f"  {label(row)} {row.workload} @ {row.target_tps:g} tx/s: "
                      f"confirmed {row.confirmed_tps:.1f} tx/s, {row.tx_per_block_mean:.1f} "
                      f"tx/block (max {row.tx_per_block_max}), p50 {row.latency_p50_s:.3f} s, "
                      f"failed {row.failed}"
                      + (f", then an empty block in {row.empty_block_ms:.1f} ms"
                         if row.empty_block_ms is not None else "")
                      + (f", errors {row.errors[:2]}" if row.errors else ""))

    try:
        for bt in block_times:
            fresh = functools.partial(_node, args, bt)
            with fresh() as node:
                console.print(f"[bold]{node_label(node.kind, node.block_time)}[/]"
                              + (f" at {node.url}" if args.rpc else ": a fresh node per run"))
                runner = RoundRunner(node, settings)
                if not args.quick:  # CI keeps the generous limits: packing is not its point
                    name = node_label(node.kind, node.block_time)
                    extra["calibration_gas"][name] = runner.calibrate(
                        max(shape_for_rate(r).proposals for r in rates))
            rows += sweep(fresh, rates, settings, runner, progress)
            rows += transfer_sweep(fresh, t_rates, settings, progress)
            if not args.no_scale and not args.quick and not bt:
                sizes = [(64, 32), (256, 32), (1024, 32)]
                for n, m in sizes:
                    with fresh() as node:
                        runner.use(node)
                        sc = run_scale(runner, n, m)
                    extra["scale"].append(asdict(sc))
                    console.print(f"  scale: {n} participants, {m} proposals: "
                                  f"{'completed' if sc.completed else 'FAILED'} in "
                                  f"{sc.seconds:.1f} s; per 30M-gas block: {sc.per_block}")
                    if not sc.completed:
                        break
    except nodes.NodeUnavailable as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]: nodes stopped")
        return 130
    if not args.no_boa:
        shape = shape_for_rate(rates[-1])
        extra["boa"] = asdict(run_boa(shape, rounds=1 if args.quick else 3))
        console.print(f"titanoboa (in process): {extra['boa']['tps']:.0f} round tx/s "
                      f"({shape.participants} participants, {shape.proposals} proposals)")

    round_rows = [r for r in rows if r.workload == "rounds"]
    write_csv(args.out / "throughput.csv", round_rows)
    write_csv(args.out / "throughput_transfers.csv", [r for r in rows if r.workload != "rounds"])
    extra["summary"] = summary(rows)
    (args.out / "throughput.json").write_text(json.dumps(
        {"rows": [asdict(r) for r in rows], **extra}, indent=1, default=str))
    plot(args.out / "throughput.png", rows)
    console.print(table(rows, "HCFL contract throughput (paper: ~2 tx/s, ~15 tx/block)"))
    console.print(gas_table(round_rows))
    for name, s in extra["summary"].items():
        console.print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in s.items()))
    console.print(f"wrote {args.out}/throughput.csv, throughput_transfers.csv, throughput.json, "
                  "throughput.png")
    return 0


@contextlib.contextmanager
def _node(args: argparse.Namespace, block_time: float) -> Iterator[nodes.Node]:
    """The node of the command line (a new one each time, but with ``--rpc``)."""
    on_demand = args.node == "anvil" and not block_time and not args.rpc \
        and not args.anvil_automine
    # a constant zero base fee: under saturation EIP-1559 raises it 12.5% per full block,
    # past any fixed max fee of pre-signed transactions (which would then wait forever); the
    # paper's private chain has no fee market either. --prune-history: a run mines thousands
    # of blocks, whose states anvil would otherwise write to disk
    anvil_args = (["--block-base-fee-per-gas", "0", "--prune-history", "--disable-console-log"]
                  if args.node == "anvil" else [])
    with nodes.start_node(args.node, block_time=block_time or None, rpc=args.rpc,
                          extra_args=anvil_args + (["--no-mining"] if on_demand else [])) as node:
        yield dataclasses.replace(node, kind=ON_DEMAND_KIND) if on_demand else node
