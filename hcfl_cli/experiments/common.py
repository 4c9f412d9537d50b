"""Shared pieces of the experiments: units, CSV writing, matplotlib set-up."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

GWEI = 10**9
"""Amounts are exact wei integers; plots and CSVs show Gwei, as the paper does."""


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def pyplot():  # type: ignore[no-untyped-def]
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Lay out, write and close a figure (every experiment's PNG goes through here)."""
    plt = pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
