"""The outcome of one training job and the files that record it (`result.json`, `accuracy.png`).

Both the in-process trainer (`hfl.train.train`) and the Flower app build a `TrainResult` and
write it with `write_result`, so the two paths produce the same file (SPEC section 6): keys
`accuracy` (one float per global round, on the target labels), `final_accuracy`,
`contributions` (one non-negative integer per station), `wall_s`, `images_per_s`, `device`,
`config`, plus details (`loo`, `shapley`, `station_samples`, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from hfl.config import TrainConfig


@dataclass(frozen=True)
class TrainResult:
    """What a training job produced; `final_state` (the global model) is kept out of the JSON."""

    config: TrainConfig
    accuracy: tuple[float, ...]  # test accuracy on the target labels after each global round
    contributions: tuple[int, ...]  # non-negative integer weight per station (see hfl.contribution)
    wall_s: float  # the whole job: data, training, evaluation, contribution measurement
    train_s: float  # local training and aggregation only (what images_per_s divides by)
    images: int  # training images processed by all clients (samples x local passes)
    device: str
    station_samples: tuple[int, ...]
    loo: tuple[float, ...] = ()  # leave-one-out marginal accuracy of each station
    shapley: tuple[float, ...] | None = None  # (sampled) Shapley value of each station
    contribution_evals: int = 0
    contribution_exact: bool = False  # Shapley computed over all coalitions (not sampled)
    # Stations dropped during the run (the authenticated Flower deployment goes on without a
    # station that is lost; see hfl.flower.secure). Empty for the other engines, which fail instead.
    dropped: tuple[int, ...] = ()
    final_state: dict[str, Tensor] | None = field(default=None, compare=False, repr=False)

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1] if self.accuracy else 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.train_s if self.train_s > 0 else 0.0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "accuracy": [float(a) for a in self.accuracy],
            "final_accuracy": float(self.final_accuracy),
            "contributions": [int(c) for c in self.contributions],
            "wall_s": float(self.wall_s),
            "images_per_s": float(self.images_per_s),
            "device": self.device,
            "config": self.config.to_dict(),
            "train_s": float(self.train_s),
            "images": int(self.images),
            "station_samples": [int(n) for n in self.station_samples],
            "loo": [float(v) for v in self.loo],
            "shapley": None if self.shapley is None else [float(v) for v in self.shapley],
            "contribution_evals": int(self.contribution_evals),
            "contribution_exact": bool(self.contribution_exact),
            "dropped": [int(j) for j in self.dropped],
        }


def plot_accuracy(result: TrainResult, path: str | Path) -> Path:
    """A PNG of test accuracy (target labels) per global round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result.config
    fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=120)
    rounds = list(range(1, len(result.accuracy) + 1))
    ax.plot(rounds, [100 * a for a in result.accuracy], marker="o", ms=3)
    ax.set_xlabel("global round")
    ax.set_ylabel(f"test accuracy (%), labels {''.join(map(str, cfg.scored_labels))}")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(f"{cfg.model} on {cfg.dataset}: {cfg.n_stations} stations x {cfg.clients_per_station} clients, "
                 f"{'IID' if cfg.iid else f'Dir({cfg.alpha:g})'}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_result(result: TrainResult, out_dir: str | Path, *, plot: bool = True) -> Path:
    """Write `out_dir/result.json` (and `out_dir/accuracy.png` when `plot`); returns the JSON's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "result.json"
    path.write_text(json.dumps(result.to_json_dict(), indent=2) + "\n")
    if plot:
        plot_accuracy(result, out / "accuracy.png")
    return path


__all__ = ["TrainResult", "plot_accuracy", "write_result"]


def contribution_table(result: TrainResult, where: str = "") -> Any:
    """A rich table of every station's samples, leave-one-out, Shapley and integer weight.

    ``where`` names the engine in the title (e.g. " over Flower"); every command that trains
    prints this same table.
    """
    from rich.table import Table

    cfg = result.config
    table = Table(title=f"{cfg.model} on {cfg.dataset}{where}, {cfg.n_stations} stations x "
                        f"{cfg.clients_per_station} clients, device {result.device}")
    for name in ("station", "samples", "leave-one-out", "Shapley", "contribution (int)"):
        table.add_column(name, justify="right")
    for j, n in enumerate(result.station_samples):
        table.add_row(str(j), str(n), f"{result.loo[j]:+.4f}" if result.loo else "-",
                      f"{result.shapley[j]:+.4f}" if result.shapley is not None else "-",
                      str(result.contributions[j]))
    return table
