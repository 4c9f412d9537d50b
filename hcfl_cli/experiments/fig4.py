"""Figure 4: accuracy on the owners' common target, the VCG-chosen target vs a random one.

Paper, section V-B: 10 owners share a random common core of labels and each adds labels of
its own; each owner proposes its target set; the VCG auction chooses the proposal of highest
welfare; the baseline trains a randomly chosen target of the same size. Both are trained
with the same data budget by hierarchical FedAvg (``hfl``) and evaluated, after every
global round, on the common core, the labels every owner wants. The paper trains ResNet-50
on 10,000 CIFAR-10 images for 50 global rounds of 2 local epochs; by default this runs the
small CNN on scikit-learn's digits for a few rounds (``--data-dir`` for CIFAR-10).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hcfl_cli.experiments.common import pyplot, save_png, write_csv
from hcfl_cli.experiments.labels import N_LABELS, draw_market, proposals_profile
from mechanism import settle


@dataclass(frozen=True)
class Fig4Config:
    global_rounds: int = 10
    local_epochs: int = 2  # kappa1, as in the paper
    stations: int = 4
    clients_per_station: int = 2
    train_samples: int = 10_000  # the same data budget for both targets (capped by what exists)
    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "cnn"
    device: str = "auto"
    seed: int = 0


@dataclass(frozen=True)
class Fig4Result:
    config: Fig4Config
    core: tuple[int, ...]
    vcg_target: tuple[int, ...]
    random_target: tuple[int, ...]
    vcg_accuracy: list[float]  # on the core, after each global round
    random_accuracy: list[float]


def _curve(labels: tuple[int, ...], core: tuple[int, ...], cfg: Fig4Config,
           progress: Callable[[], None] | None) -> list[float]:
    """Train a model for ``labels`` with hfl and evaluate it on ``core`` after every global round."""
    from hfl.aggregate import cloud_aggregate
    from hfl.config import TrainConfig
    from hfl.data import build_federation
    from hfl.train import evaluate, init_state, resolve_device, station_update

    tc = TrainConfig(seed=cfg.seed, model=cfg.model, dataset=cfg.dataset, data_dir=cfg.data_dir,
                     n_stations=cfg.stations, clients_per_station=cfg.clients_per_station, kappa1=cfg.local_epochs,
                     kappa2=1, global_rounds=cfg.global_rounds, target_labels=labels, device=cfg.device)
    device = resolve_device(tc)
    fed = build_federation(tc, device)
    budget = min(cfg.train_samples, fed.n_train)
    if budget < fed.n_train:
        tc = replace(tc, max_train_samples=budget)
        fed = build_federation(tc, device)
    state = init_state(tc, device)
    out = []
    for r in range(cfg.global_rounds):
        state = cloud_aggregate([station_update(state, clients, tc, r, j) for j, clients in enumerate(fed.stations)])
        out.append(evaluate(state, fed.test, tc, labels=core))
        if progress is not None:
            progress()
    return out


def run_fig4(cfg: Fig4Config = Fig4Config(), progress: Callable[[], None] | None = None) -> Fig4Result:
    rng = random.Random(cfg.seed)
    market = draw_market(rng)
    proposals = list(dict.fromkeys(market.targets))  # each owner's target, duplicates merged
    out = settle(**proposals_profile(market, proposals))
    vcg = proposals[out.winner if out.winner is not None else 0]
    rand = tuple(sorted(rng.sample(range(N_LABELS), len(vcg))))
    return Fig4Result(cfg, market.core, vcg, rand, _curve(vcg, market.core, cfg, progress),
                      _curve(rand, market.core, cfg, progress))


def write_fig4(result: Fig4Result, out_dir: Path) -> tuple[Path, Path]:
    rows = [[r + 1, a, b] for r, (a, b) in enumerate(zip(result.vcg_accuracy, result.random_accuracy))]
    csv_path = write_csv(out_dir / "fig4.csv", ["global_round", "vcg_accuracy", "random_accuracy"], rows)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = range(1, len(rows) + 1)
    ax.plot(x, [100 * a for a in result.vcg_accuracy], "o-", label=f"VCG target {list(result.vcg_target)}")
    ax.plot(x, [100 * a for a in result.random_accuracy], "s--", label=f"Random target {list(result.random_target)}")
    ax.set_xlabel("Global round")
    ax.set_ylabel(f"Accuracy on the common target {list(result.core)} (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    cfg = result.config
    ax.set_title(f"Fig. 4: {cfg.model} on {cfg.dataset}, {cfg.stations} stations, {cfg.local_epochs} local epochs")
    return csv_path, save_png(fig, out_dir / "fig4.png")
