"""Benchmark: exact vs numpy settlement as the number of participants N grows.

Claim (issue 2): the numpy path settles 10,000 participants x 100 proposals in under 50 ms,
and both paths grow as O(N*M): doubling N doubles the time (the "x prev" column stays near
2), it does not quadruple it. Profiles are drawn in Gwei as in the paper's section V (owner
values mean 100, station costs mean 50), half owners, half stations; each figure is the
median of several runs after a warm-up, both paths on the same profile in the same run.

    python -m benchmarks.mechanism [--quick] [--proposals M] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from mechanism import settle, settle_fast


@dataclass(frozen=True)
class Row:
    participants: int
    proposals: int
    exact_ms: float
    numpy_ms: float


def make_profile(n: int, m: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A profile of ``n`` participants (half owners) and ``m`` proposals, amounts in Gwei."""
    rng = np.random.default_rng(seed)
    n_o, n_s = n // 2, n - n // 2
    return {
        "budgets": rng.integers(20 * n_s, 60 * n_s, size=m, dtype=np.int64),
        "owner_weights": rng.integers(1, 10, size=n_o, dtype=np.int64),
        "station_weights": rng.integers(1, 10, size=n_s, dtype=np.int64),
        "owner_values": rng.integers(0, 200, size=(n_o, m), dtype=np.int64),
        "station_costs": rng.integers(0, 100, size=(n_s, m), dtype=np.int64),
    }


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def run(sizes: list[int], m: int, repeats: int) -> list[Row]:
    rows = []
    for n in sizes:
        arrays = make_profile(n, m)
        lists = {k: v.tolist() for k, v in arrays.items()}
        exact = settle(**lists)
        if settle_fast(**arrays) != exact:  # same profile, same outcome: or the figures mean nothing
            raise AssertionError(f"numpy and exact paths disagree at N={n}")
        exact_ms = median_ms(lambda: settle(**lists), max(1, repeats // 3))
        numpy_ms = median_ms(lambda: settle_fast(**arrays), repeats)
        rows.append(Row(n, m, exact_ms, numpy_ms))
    return rows


def render(rows: list[Row]) -> Table:
    table = Table(title="Settlement time: exact Python ints vs numpy int64 (median)")
    for col in ("participants N", "proposals M", "exact ms", "numpy ms", "exact/numpy", "exact x prev", "numpy x prev"):
        table.add_column(col, justify="right")
    prev = None
    for r in rows:
        # With N doubling row to row, O(N*M) shows as ~2 here; O(N^2*M) would show as ~4.
        exact_growth = f"{r.exact_ms / prev.exact_ms:.2f}" if prev else "-"
        numpy_growth = f"{r.numpy_ms / prev.numpy_ms:.2f}" if prev else "-"
        table.add_row(
            f"{r.participants:,}", str(r.proposals), f"{r.exact_ms:.1f}", f"{r.numpy_ms:.2f}",
            f"{r.exact_ms / r.numpy_ms:.0f}x", exact_growth, numpy_growth,
        )
        prev = r
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mechanism", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only (a few seconds, for CI)")
    parser.add_argument("--proposals", type=int, default=100, help="proposals M (default 100)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per figure (default 9)")
    args = parser.parse_args(argv)
    if args.proposals < 1 or args.repeats < 1:
        parser.error("--proposals and --repeats must be >= 1")
    sizes = [250, 500, 1000] if args.quick else [1250, 2500, 5000, 10000, 20000]
    rows = run(sizes, args.proposals, args.repeats)
    console = Console()
    console.print(render(rows))
    target = [r for r in rows if r.participants == 10000]
    if target:
        verdict = "meets" if target[0].numpy_ms < 50 else "MISSES"
        console.print(f"10,000 x {args.proposals}: numpy {target[0].numpy_ms:.1f} ms ({verdict} the 50 ms target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
