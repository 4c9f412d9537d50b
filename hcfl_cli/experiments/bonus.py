"""``hcfl experiment bonus``: what SPEC section 9's station bonus does, in simulation.

Stations train the winner's model by hierarchical FedAvg (``hfl``, in process, digits). Each
station chooses to bring good data (its clients' true labels) at an extra cost, or cheap
data (shuffled labels, ``TrainConfig.shuffled_label_stations``) for free. The winner
measures every station's contribution (``hfl.contribution``), and ``mechanism.settle``
pays the budget with the bonus fraction ``beta`` split by those contributions.

For every ``beta`` the experiment reports:

- **fixed data** (half the stations on shuffled labels): every station's utility, so that
  stations with better data visibly earn more as ``beta`` grows;
- **incentives**: the stations' best responses (good or cheap data, one at a time until no
  station changes), the resulting model's accuracy and the stations' utilities;
- **lies**: the largest gain a station gets from misreporting its costs, over random
  profiles with the measured contributions and every lie in a grid, searched with the
  reference, against the proved bound ``max_m floor(C_m beta) + 1``.

Trainings are cached by the set of cheap-data stations, so each data configuration trains once.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hcfl_cli.experiments.common import GWEI, pyplot, save_png, write_csv
from mechanism import bonus_pool, settle, utility

ROUNDING = 1
"""The rounding wei of the proved bound (``verification.bonus.ROUNDING``)."""


@dataclass(frozen=True)
class BonusConfig:
    """Sizes of the experiment (``quick``: seconds on two cores)."""

    seed: int = 0
    stations: int = 4
    betas_bps: tuple[int, ...] = (0, 1000, 2500, 5000, 7500, 10_000)
    global_rounds: int = 3
    clients_per_station: int = 3
    max_train_samples: int | None = None
    budget_gwei: int = 400
    effort_gwei: tuple[int, ...] = (20, 45, 70, 95)  # each station's extra cost of good data
    lie_profiles: int = 40  # random profiles searched for the largest gain from a lie
    lie_grid: int = 8  # claims 0..lie_grid-1 per proposal
    device: str = "cpu"

    @classmethod
    def quick(cls, seed: int = 0) -> BonusConfig:
        return cls(seed=seed, stations=2, betas_bps=(0, 5000, 10_000), global_rounds=1, clients_per_station=2,
                   max_train_samples=400, effort_gwei=(20, 60), lie_profiles=3, lie_grid=5)


@dataclass(frozen=True)
class BetaRow:
    """The outcome for one bonus fraction."""

    bonus_bps: int
    fixed_utility_gwei: list[float]  # per station, the fixed-data configuration
    good: list[bool]  # each station's best response: good data?
    accuracy: float  # of the model trained with the best responses
    utility_gwei: list[float]  # per station, at the best responses
    max_lie_gain: int  # wei, largest gain from a lie found
    proved_bound: int  # wei, max_m floor(C_m beta) + 1 over the searched profiles


@dataclass(frozen=True)
class BonusResult:
    config: BonusConfig
    cheap_fixed: tuple[int, ...]  # the stations on shuffled labels in the fixed-data part
    rows: list[BetaRow] = field(default_factory=list)
    trainings: int = 0
    fixed_contributions: tuple[int, ...] = ()  # measured in the fixed-data part

    def group_mean(self, row: BetaRow, clean: bool) -> float:
        """Mean fixed-data utility of the stations with clean (or shuffled) labels."""
        js = [j for j in range(self.config.stations) if (j not in self.cheap_fixed) == clean]
        return sum(row.fixed_utility_gwei[j] for j in js) / len(js)


def _trainer(cfg: BonusConfig, progress: Callable[[], None]) -> Callable[[tuple[int, ...]], tuple[float, tuple[int, ...]]]:
    """``train(cheap) -> (accuracy, contributions)``, cached by the set of cheap-data stations."""
    from hfl.config import TrainConfig
    from hfl.train import train

    cache: dict[tuple[int, ...], tuple[float, tuple[int, ...]]] = {}

    def run(cheap: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        key = tuple(sorted(cheap))
        if key not in cache:
            tc = TrainConfig(seed=cfg.seed, n_stations=cfg.stations, clients_per_station=cfg.clients_per_station,
                             global_rounds=cfg.global_rounds, kappa1=1, kappa2=2, max_train_samples=cfg.max_train_samples,
                             shuffled_label_stations=key, device=cfg.device)
            r = train(tc)
            cache[key] = (r.final_accuracy, tuple(r.contributions))
            progress()
        return cache[key]

    run.cache = cache  # type: ignore[attr-defined]
    return run


def _round(cfg: BonusConfig, bps: int, contributions: Sequence[int], costs_gwei: Sequence[int]) -> list[int]:
    """Every station's transfer in the round (one proposal that wins; truthful claims)."""
    n = cfg.stations
    out = settle(budgets=[cfg.budget_gwei * GWEI], owner_weights=[1], station_weights=[1] * n,
                 owner_values=[[3 * cfg.budget_gwei * GWEI]], station_costs=[[c * GWEI] for c in costs_gwei],
                 bonus_bps=bps, contributions=list(contributions))
    return out.station_receives


def _utilities(cfg: BonusConfig, bps: int, cheap: tuple[int, ...], contributions: Sequence[int],
               costs_gwei: Sequence[int]) -> list[float]:
    receives = _round(cfg, bps, contributions, costs_gwei)
    return [(r - c * GWEI - (0 if j in cheap else cfg.effort_gwei[j] * GWEI)) / GWEI
            for j, (r, c) in enumerate(zip(receives, costs_gwei))]


def best_responses(cfg: BonusConfig, bps: int, costs_gwei: Sequence[int],
                   run: Callable[[tuple[int, ...]], tuple[float, tuple[int, ...]]]) -> tuple[int, ...]:
    """Stations switch between good and cheap data one at a time, each to what pays it more,
    until none changes (or after ``stations`` passes); starts from everyone cheap."""
    cheap = set(range(cfg.stations))
    for _ in range(cfg.stations):
        changed = False
        for j in range(cfg.stations):
            options = {}
            for is_cheap in (True, False):
                trial = tuple(sorted((cheap | {j}) if is_cheap else (cheap - {j})))
                options[is_cheap] = _utilities(cfg, bps, trial, run(trial)[1], costs_gwei)[j]
            want_cheap = options[True] >= options[False]  # ties: no effort
            if want_cheap != (j in cheap):
                cheap = (cheap | {j}) if want_cheap else (cheap - {j})
                changed = True
        if not changed:
            break
    return tuple(sorted(cheap))


def largest_lie_gain(cfg: BonusConfig, bps: int, contributions: Sequence[int], rng: random.Random) -> tuple[int, int]:
    """``(largest gain from a lie found, the proved bound)`` over random two-proposal profiles
    with these contributions, every station and every lie in the grid (amounts in wei,
    small so that ties, pivots and the rounding matter)."""
    n, best, bound = cfg.stations, 0, 0
    for _ in range(cfg.lie_profiles):
        budgets = [rng.randint(0, 40), rng.randint(0, 40)]
        p = dict(budgets=budgets, owner_weights=[1, 2], station_weights=[rng.randint(1, 3) for _ in range(n)],
                 owner_values=[[rng.randint(0, 30) for _ in range(2)] for _ in range(2)],
                 station_costs=[[rng.randint(0, cfg.lie_grid - 1) for _ in range(2)] for _ in range(n)],
                 bonus_bps=bps, contributions=list(contributions))
        bound = max(bound, max(bonus_pool(c, bps) for c in budgets) + ROUNDING)
        for j in range(n):
            truth = p["station_costs"][j]
            honest = utility(settle(**p), "station", j, truth)
            for lie in itertools.product(range(cfg.lie_grid), repeat=2):
                costs = [list(lie) if k == j else row for k, row in enumerate(p["station_costs"])]
                best = max(best, utility(settle(**{**p, "station_costs": costs}), "station", j, truth) - honest)
    return best, bound


def run_bonus(cfg: BonusConfig, progress: Callable[[], None] = lambda: None) -> BonusResult:
    """The whole experiment (see the module docstring)."""
    rng = random.Random(cfg.seed)
    if len(cfg.effort_gwei) != cfg.stations:
        raise ValueError(f"effort_gwei: expected {cfg.stations} efforts, one per station, got {len(cfg.effort_gwei)}")
    costs = [rng.randint(10, 40) for _ in range(cfg.stations)]
    run = _trainer(cfg, progress)
    cheap_fixed = tuple(range(cfg.stations // 2))
    _, fixed_contrib = run(cheap_fixed)
    rows = []
    for bps in cfg.betas_bps:
        fixed = _utilities(cfg, bps, cheap_fixed, fixed_contrib, costs)
        cheap = best_responses(cfg, bps, costs, run)
        accuracy, contrib = run(cheap)
        gain, bound = largest_lie_gain(cfg, bps, contrib, rng)
        rows.append(BetaRow(bps, fixed, [j not in cheap for j in range(cfg.stations)], accuracy,
                            _utilities(cfg, bps, cheap, contrib, costs), gain, bound))
    return BonusResult(cfg, cheap_fixed, rows, len(run.cache), fixed_contrib)  # type: ignore[attr-defined]


def write_bonus(result: BonusResult, out_dir: Path) -> list[Path]:
    """``bonus.csv`` (one row per beta) and ``bonus.png`` (three panels)."""
    n = result.config.stations
    header = ["bonus_bps", *[f"fixed_utility_gwei_{j}" for j in range(n)], "good_data_stations", "accuracy",
              *[f"utility_gwei_{j}" for j in range(n)], "max_lie_gain_wei", "proved_bound_wei"]
    csv_path = write_csv(out_dir / "bonus.csv", header, [
        [r.bonus_bps, *[f"{u:.3f}" for u in r.fixed_utility_gwei], sum(r.good), f"{r.accuracy:.4f}",
         *[f"{u:.3f}" for u in r.utility_gwei], r.max_lie_gain, r.proved_bound] for r in result.rows])
    plt = pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    betas = [r.bonus_bps / 100 for r in result.rows]
    for j in range(n):
        a.plot(betas, [r.fixed_utility_gwei[j] for r in result.rows], linewidth=0.7, alpha=0.5,
               color="tab:red" if j in result.cheap_fixed else "tab:blue")
    for clean, color in ((True, "tab:blue"), (False, "tab:red")):
        a.plot(betas, [result.group_mean(r, clean) for r in result.rows], marker="o", linewidth=2, color=color,
               label=f"mean, {'clean' if clean else 'shuffled'} labels")
    a.set_xlabel("bonus fraction beta (%)")
    a.set_ylabel("station utility (Gwei)")
    a.set_title("fixed data (thin: each station)")
    a.legend(fontsize=7)
    b.plot(betas, [r.accuracy for r in result.rows], marker="o", color="tab:green", label="accuracy")
    b.set_xlabel("bonus fraction beta (%)")
    b.set_ylabel("model accuracy (best responses)")
    b2 = b.twinx()
    b2.bar(betas, [sum(r.good) for r in result.rows], width=3, alpha=0.3, color="tab:gray", label="stations with clean data")
    b2.set_ylabel("stations bringing clean data")
    b.set_title("incentives: who brings clean data")
    c.plot(betas, [r.proved_bound for r in result.rows], marker="s", label="proved bound max B + 1")
    c.plot(betas, [r.max_lie_gain for r in result.rows], marker="o", label="largest gain found")
    c.set_xlabel("bonus fraction beta (%)")
    c.set_ylabel("gain from a lie (wei)")
    c.set_title("lies: observed vs proved")
    c.legend(fontsize=7)
    png = save_png(fig, out_dir / "bonus.png")
    return [csv_path, png]
