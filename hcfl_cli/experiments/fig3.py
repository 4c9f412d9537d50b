"""Figure 3: accumulated utility of one owner, honest vs dishonest, under both rules.

Paper, section V-A: 10 owners and 10 stations, owner values with mean 100 Gwei and station
costs with mean 50 Gwei, 100 auction rounds; the observed owner claims a fake value with
probability 0%, 30% or 50%. Two kinds of liar are played on the same rounds: a ``random``
liar claims a random fake value (the paper's set-up), a ``best`` liar knows the others'
claims and picks the best of several random fake claims (the strongest liar there is). The
figure shows what truthfulness means: under rule ``clarke`` no lie ever earns more than the
truth (the honest curve is never below a liar's; the best liar at most ties it), while under
the paper's one-sided rule ``paper`` the best liar beats the honest owner. Utility is always
measured with the owner's true values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from hcfl_cli.experiments.common import GWEI, pyplot, save_png, write_csv
from mechanism import settle, utility

FOCUS = 0  # the owner whose utility is plotted


@dataclass(frozen=True)
class Fig3Config:
    rounds: int = 100
    owners: int = 10
    stations: int = 10
    proposals: int = 5
    owner_mean_gwei: int = 100
    station_mean_gwei: int = 50
    dishonesty: tuple[float, ...] = (0.0, 0.3, 0.5)
    rules: tuple[str, ...] = ("clarke", "paper")
    liars: tuple[str, ...] = ("random", "best")
    candidates: int = 16  # fake claims the best liar tries each dishonest round
    seed: int = 0

    def series_keys(self) -> list[tuple[str, float, str]]:
        """(rule, dishonesty, liar) of every curve; the honest curve has liar 'none'."""
        keys = []
        for rule in self.rules:
            for p in self.dishonesty:
                for liar in (("none",) if p == 0 else self.liars):
                    keys.append((rule, p, liar))
        return keys


@dataclass(frozen=True)
class Fig3Result:
    config: Fig3Config
    # utility[(rule, p, liar)][r]: the focus owner's utility in round r, in wei
    utility: dict[tuple[str, float, str], list[int]]
    lies_told: dict[tuple[str, float, str], int]

    def accumulated(self, key: tuple[str, float, str]) -> list[int]:
        total, out = 0, []
        for u in self.utility[key]:
            total += u
            out.append(total)
        return out


def _round_profile(rng: random.Random, cfg: Fig3Config) -> dict:
    """True values/costs of one round (uniform on [0, 2*mean], so the mean is as in the paper)."""
    m = cfg.proposals
    gwei = lambda mean: rng.randint(0, 2 * mean) * GWEI  # noqa: E731
    return {
        # Budgets near what the stations' costs add up to, so most rounds train something.
        "budgets": [rng.randint(cfg.stations * cfg.station_mean_gwei // 2, cfg.stations * cfg.station_mean_gwei * 3 // 2) * GWEI
                    for _ in range(m)],
        "owner_weights": [1] * cfg.owners,
        "station_weights": [1] * cfg.stations,
        "owner_values": [[gwei(cfg.owner_mean_gwei) for _ in range(m)] for _ in range(cfg.owners)],
        "station_costs": [[gwei(cfg.station_mean_gwei) for _ in range(m)] for _ in range(cfg.stations)],
    }


def _lie(rng: random.Random, profile: dict, rule: str, liar: str, cfg: Fig3Config) -> list[int]:
    truth = profile["owner_values"][FOCUS]
    best, best_u = None, None
    for _ in range(cfg.candidates if liar == "best" else 1):
        lie = [rng.randint(0, 2 * cfg.owner_mean_gwei) * GWEI for _ in truth]
        u = utility(settle(**_claiming(profile, lie), rule=rule), "owner", FOCUS, truth)
        if best_u is None or u > best_u:
            best, best_u = lie, u
    assert best is not None
    return best


def _claiming(profile: dict, claim: list[int]) -> dict:
    values = [list(r) for r in profile["owner_values"]]
    values[FOCUS] = claim
    return {**profile, "owner_values": values}


def run_fig3(cfg: Fig3Config = Fig3Config(), progress=None) -> Fig3Result:  # type: ignore[no-untyped-def]
    """Play ``cfg.rounds`` auctions for every (rule, dishonesty) pair on the same true profiles."""
    world = random.Random(cfg.seed)
    profiles = [_round_profile(world, cfg) for _ in range(cfg.rounds)]
    util: dict[tuple[str, float, str], list[int]] = {}
    lies: dict[tuple[str, float, str], int] = {}
    for key in cfg.series_keys():
        rule, p, liar = key
        # Same coin flips and fake claims under both rules: only the rule differs.
        rng = random.Random(f"{cfg.seed}-{p}-{liar}")
        series, told = [], 0
        for profile in profiles:
            truth = profile["owner_values"][FOCUS]
            claimed = profile
            if rng.random() < p:
                claimed = _claiming(profile, _lie(rng, profile, rule, liar, cfg))
                told += 1
            series.append(utility(settle(**claimed, rule=rule), "owner", FOCUS, truth))
            if progress is not None:
                progress()
        util[key], lies[key] = series, told
    return Fig3Result(cfg, util, lies)


def write_fig3(result: Fig3Result, out_dir: Path) -> tuple[Path, Path]:
    cfg = result.config
    rows = []
    for key, series in result.utility.items():
        acc = result.accumulated(key)
        for r, (u, a) in enumerate(zip(series, acc), start=1):
            rows.append([*key, r, u / GWEI, a / GWEI])
    csv_path = write_csv(
        out_dir / "fig3.csv", ["rule", "dishonesty", "liar", "round", "utility_gwei", "accumulated_gwei"], rows
    )

    plt = pyplot()
    fig, axes = plt.subplots(1, len(cfg.rules), figsize=(6 * len(cfg.rules), 4.2), sharey=True, squeeze=False)
    for ax, rule in zip(axes[0], cfg.rules):
        for key in cfg.series_keys():
            if key[0] != rule:
                continue
            _, p, liar = key
            label = "Honest" if p == 0 else f"{int(p * 100)}% Dishonest ({liar} lie)"
            # The honest curve on top and thick: under 'clarke' the best liar can only run along it.
            style = dict(color="black", lw=2.6, zorder=3) if liar == "none" else dict(lw=1.3, ls="--" if liar == "random" else "-")
            ax.plot(range(1, cfg.rounds + 1), [a / GWEI for a in result.accumulated(key)], label=label, **style)
        ax.set_title(f"rule '{rule}'" + (" (Clarke tax, truthful)" if rule == "clarke" else " (paper's one-sided tax)"))
        ax.set_xlabel("Auction round")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("Accumulated utility of one owner (Gwei)")
    fig.suptitle(f"Fig. 3: one owner, honest vs dishonest (best liar: best of {cfg.candidates} fake claims)")
    return csv_path, save_png(fig, out_dir / "fig3.png")
