"""Figure 5: accumulated social utility over rounds for VCG, selfish and random choice.

Paper, section V-C: each round, every owner has a target label set (with a guaranteed
common core), values each of its labels at a random amount (mean 10 Gwei), and every
station's cost is a random amount per label of the model (mean 5 Gwei). Three ways choose
the model: the VCG auction over the owners' proposals (their target sets), ``selfish``
(train only the labels every owner wants: the intersection), and ``random`` (a random
proposal). The social utility of a round is (total true value - total true cost) of the
chosen target times the accuracy its model reaches, trained by ``hfl``; it is accumulated
over the rounds. Accuracies are measured once per distinct target and reused.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hcfl_cli.experiments.common import GWEI, pyplot, save_png, write_csv
from hcfl_cli.experiments.labels import draw_market, proposals_profile
from mechanism import settle

STRATEGIES = ("VCG", "Selfish", "Random")


@dataclass(frozen=True)
class Fig5Config:
    rounds: int = 10
    global_rounds: int = 3  # hfl training of each chosen target
    stations: int = 4
    dataset: str = "digits"
    data_dir: str | None = None
    device: str = "auto"
    seed: int = 0


@dataclass(frozen=True)
class Fig5Result:
    config: Fig5Config
    # per strategy, per round: (target, welfare in wei, accuracy, social utility in wei)
    rounds: dict[str, list[tuple[tuple[int, ...], int, float, int]]]

    def accumulated(self, strategy: str) -> list[int]:
        total, out = 0, []
        for *_, u in self.rounds[strategy]:
            total += u
            out.append(total)
        return out


def hfl_accuracy(cfg: Fig5Config) -> Callable[[tuple[int, ...]], float]:
    """Accuracy on its own target of a model trained by hfl for a target, cached per target."""
    from hfl.config import TrainConfig
    from hfl.train import train

    cache: dict[tuple[int, ...], float] = {}

    def acc(labels: tuple[int, ...]) -> float:
        if labels not in cache:
            tc = TrainConfig(seed=cfg.seed, dataset=cfg.dataset, data_dir=cfg.data_dir, n_stations=cfg.stations,
                             clients_per_station=2, global_rounds=cfg.global_rounds, target_labels=labels,
                             device=cfg.device)
            cache[labels] = train(tc, measure=False).final_accuracy
        return cache[labels]

    return acc


def run_fig5(cfg: Fig5Config = Fig5Config(), progress: Callable[[], None] | None = None,
             accuracy: Callable[[tuple[int, ...]], float] | None = None) -> Fig5Result:
    accuracy = accuracy or hfl_accuracy(cfg)
    rng = random.Random(cfg.seed)
    rounds: dict[str, list[tuple[tuple[int, ...], int, float, int]]] = {s: [] for s in STRATEGIES}
    for _ in range(cfg.rounds):
        market = draw_market(rng)
        proposals = list(dict.fromkeys(market.targets))
        out = settle(**proposals_profile(market, proposals))
        chosen = {
            "VCG": proposals[out.winner] if out.winner is not None else None,
            "Selfish": market.core,
            "Random": rng.choice(proposals),
        }
        for s, target in chosen.items():
            if target is None:  # nothing is worth training: no utility, no cost
                rounds[s].append(((), 0, 0.0, 0))
                continue
            w = market.welfare(target)
            a = accuracy(target)
            # utility in wei stays an integer: accuracy is applied in parts per million
            rounds[s].append((target, w, a, w * round(a * 1_000_000) // 1_000_000))
            if progress is not None:
                progress()
    return Fig5Result(cfg, rounds)


def write_fig5(result: Fig5Result, out_dir: Path) -> tuple[Path, Path]:
    rows = []
    for s in STRATEGIES:
        acc = result.accumulated(s)
        for r, ((target, w, a, u), total) in enumerate(zip(result.rounds[s], acc), start=1):
            rows.append([s, r, " ".join(map(str, target)), w / GWEI, a, u / GWEI, total / GWEI])
    csv_path = write_csv(out_dir / "fig5.csv", ["strategy", "round", "target", "welfare_gwei", "accuracy",
                                                "social_utility_gwei", "accumulated_gwei"], rows)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = range(1, result.config.rounds + 1)
    for s, style in zip(STRATEGIES, ("o-", "s--", "^:")):
        ax.plot(x, [v / GWEI for v in result.accumulated(s)], style, label=s)
    ax.set_xlabel("Round")
    ax.set_ylabel("Accumulated social utility (Gwei)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Fig. 5: social utility = (value - cost) x accuracy")
    return csv_path, save_png(fig, out_dir / "fig5.png")
