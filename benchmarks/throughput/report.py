"""What a sweep reports: its rows, the CSV of SPEC section 6, the plot, the tables, the summary.

Everything here reads finished ``Row`` values; nothing runs a node.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._load_flows import Measures
from benchmarks.throughput.chain import node_label

if TYPE_CHECKING:  # rich is imported when a table is drawn, not with the module
    from rich.table import Table

CSV_COLUMNS = ["node", "block_time_s", "offered_tps", "confirmed_tps", "tx_per_block_mean",
               "tx_per_block_max", "latency_p50_s", "latency_p99_s", "failed"]
PAPER_SATURATION_TPS = 2.0  # paper, figure 6: generation rate where tx per block stops growing
PAPER_MAX_TX_PER_BLOCK = 15


@dataclass(frozen=True)
class Row(Measures):
    """One rate on one node (the CSV's columns plus what the table and JSON add)."""

    node: str
    block_time_s: float
    workload: str  # "rounds" or "transfers"
    target_tps: float
    participants: int = 0
    proposals: int = 0
    rounds: int = 0
    rounds_done: int = 0
    rounds_skipped: int = 0
    sent: int = 0
    confirmed: int = 0
    kicks: int = 0
    gas_by_fn: dict[str, float] = field(default_factory=dict)
    gas_max_by_fn: dict[str, int] = field(default_factory=dict)
    gas_per_block_mean: float = 0.0
    gas_limit: int = 0
    errors: tuple[str, ...] = ()
    # on-demand nodes: ms to mine an empty block after the run (anvil rebuilds its state
    # root from every account and slot for each block: the per-block cost grows with state)
    empty_block_ms: float | None = None

    def csv_row(self) -> list[str]:
        return [self.node, f"{self.block_time_s:g}", f"{self.offered_tps:.2f}",
                f"{self.confirmed_tps:.2f}", f"{self.tx_per_block_mean:.2f}",
                str(self.tx_per_block_max), f"{self.latency_p50_s:.4f}",
                f"{self.latency_p99_s:.4f}", str(self.failed)]


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(r.csv_row())


def label(r: Row) -> str:
    """The node a row ran on, as tables and the plot name it."""
    return node_label(r.node, r.block_time_s)


def plot(path: Path, rows: Sequence[Row]) -> None:
    """Tx per block (mean, and max dashed) against generation rate, like the paper's fig. 6."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(label(r) + ("" if r.workload == "rounds" else " transfers"),
                          []).append(r)
    for name, rs in groups.items():
        rs = sorted(rs, key=lambda r: r.offered_tps)
        xs = [max(r.offered_tps, 1e-3) for r in rs]
        line, = ax.plot(xs, [max(r.tx_per_block_mean, 1e-3) for r in rs], "o-",
                        label=f"{name}: mean")
        ax.plot(xs, [max(r.tx_per_block_max, 1e-3) for r in rs], "^--", color=line.get_color(),
                alpha=0.6, label=f"{name}: max")
    # the paper gives no data table: only that fig. 6 (1..5 tx/s, 0..15 tx per block)
    # saturates at about 2 tx/s; its plateau is marked, nothing else is drawn for it
    ax.plot([PAPER_SATURATION_TPS, 5], [PAPER_MAX_TX_PER_BLOCK, PAPER_MAX_TX_PER_BLOCK], "s-",
            color="black", lw=2, label="paper, fig. 6: saturated (~2 tx/s, ~15 tx/block)")
    ax.axvline(PAPER_SATURATION_TPS, color="grey", ls=":", lw=1)
    ax.axhline(PAPER_MAX_TX_PER_BLOCK, color="grey", ls=":", lw=1)
    ax.annotate("paper: saturates at ~2 tx/s,\n~15 tx per block", (PAPER_SATURATION_TPS,
                PAPER_MAX_TX_PER_BLOCK), textcoords="offset points", xytext=(8, 12), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("generation rate (offered transactions per second)")
    ax.set_ylabel("transactions per block")
    ax.set_title("HCFL rounds: transactions per block against generation rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows: Sequence[Row], title: str) -> Table:
    from rich.table import Table

    t = Table(title=title)
    for col in ("node", "load", "target tx/s", "offered tx/s", "confirmed tx/s", "tx/block mean",
                "tx/block max", "latency p50 s", "p99 s", "failed", "round (n, M)", "rounds",
                "kicks"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(label(r), r.workload, f"{r.target_tps:g}", f"{r.offered_tps:.1f}",
                  f"{r.confirmed_tps:.1f}", f"{r.tx_per_block_mean:.1f}",
                  str(r.tx_per_block_max), f"{r.latency_p50_s:.3f}", f"{r.latency_p99_s:.3f}",
                  str(r.failed), f"({r.participants}, {r.proposals})" if r.participants else "",
                  f"{r.rounds_done}/{r.rounds - r.rounds_skipped}" if r.rounds else "",
                  str(r.kicks))
    t.add_row("paper (geth)", "rounds", "", f"{PAPER_SATURATION_TPS:g} (saturation)", "", "",
              str(PAPER_MAX_TX_PER_BLOCK), "", "", "", "", "", "")
    return t


def gas_table(rows: Sequence[Row]) -> Table:
    """Mean gas per function (receipts' gasUsed) in each node's fastest clean round run."""
    from rich.table import Table

    best: dict[str, Row] = {}
    for r in rows:
        if not r.failed and r.gas_by_fn and (label(r) not in best
                                             or r.confirmed_tps > best[label(r)].confirmed_tps):
            best[label(r)] = r
    fns = ["register", "propose", "commit", "reveal", "close", "settle", "withdraw", "advance"]
    t = Table(title="gas per round transaction (mean gasUsed)")
    t.add_column("node")
    t.add_column("round (n, M)")
    for fn in fns:
        t.add_column(fn, justify="right")
    for name, r in best.items():
        t.add_row(name, f"({r.participants}, {r.proposals})",
                  *[f"{r.gas_by_fn[fn]:,.0f}" if fn in r.gas_by_fn else "" for fn in fns])
    return t


def summary(rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Per node: best confirmed round and transfer rates (runs with no failure), their ratio,
    and how full the blocks were at the best round rate: tx per block against what the block
    gas limit allows at that run's mean gas per round transaction (weighted as one whole round
    sends them), and gas used / limit (the same bound at the window's own mean gas)."""
    out: dict[str, dict[str, float]] = {}
    best: dict[str, Row] = {}
    for r in rows:
        s = out.setdefault(label(r), {"rounds_tps": 0.0, "transfers_tps": 0.0})
        if r.failed:
            continue
        key = "rounds_tps" if r.workload == "rounds" else "transfers_tps"
        s[key] = max(s[key], r.confirmed_tps)
        if r.workload == "rounds" and (label(r) not in best
                                       or r.confirmed_tps > best[label(r)].confirmed_tps):
            best[label(r)] = r
    for name, r in best.items():
        s = out[name]
        gas = _mean_round_gas(r)
        s["rounds_tx_per_block_mean_at_best"] = r.tx_per_block_mean
        s["rounds_tx_per_block_max"] = r.tx_per_block_max
        if gas:
            s["mean_round_gas"] = gas
            s["gas_bound_tx_per_block"] = r.gas_limit / gas
            s["tx_fill_of_gas_bound"] = r.tx_per_block_mean / (r.gas_limit / gas)
            s["gas_fill"] = r.gas_per_block_mean / r.gas_limit
        if r.tx_per_block_mean:
            # the same bound at the mean gas of the transactions these blocks actually held
            # (the window's mix of round steps need not be a whole round's)
            s["window_mean_gas"] = r.gas_per_block_mean / r.tx_per_block_mean
    for s in out.values():
        if s["transfers_tps"]:
            s["rounds_over_transfers"] = s["rounds_tps"] / s["transfers_tps"]
    return out


def _mean_round_gas(r: Row) -> float:
    """Mean gas of a round transaction, weighted by how many of each a round sends."""
    if not r.gas_by_fn or not r.participants:
        return 0.0
    n, m = r.participants, r.proposals
    counts = {"register": n, "propose": m, "commit": n, "reveal": n, "settle": n,
              "withdraw": n, "advance": 3, "close": 1}
    tot = sum(counts[f] * g for f, g in r.gas_by_fn.items() if f in counts)
    return tot / sum(counts[f] for f in r.gas_by_fn if f in counts)
