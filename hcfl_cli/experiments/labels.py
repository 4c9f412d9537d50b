"""Owners' target label sets and per-label values, as in the paper's sections V-B and V-C.

Every owner wants a common core of labels (the "random intersection of all labels") plus
extra labels of its own; it values each label of its target at a random amount (mean
10 Gwei), and every station's cost of training a model is a random amount per label of the
model's target (mean 5 Gwei). A proposal is an owner's own target set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hcfl_cli.experiments.common import GWEI

N_LABELS = 10


@dataclass(frozen=True)
class Market:
    core: tuple[int, ...]  # labels every owner wants
    targets: list[tuple[int, ...]]  # each owner's target label set
    label_values: list[list[int]]  # [owner][label], wei (0 outside the owner's target)
    label_costs: list[list[int]]  # [station][label], wei

    def value(self, owner: int, labels: tuple[int, ...]) -> int:
        return sum(self.label_values[owner][lab] for lab in labels)

    def cost(self, station: int, labels: tuple[int, ...]) -> int:
        return sum(self.label_costs[station][lab] for lab in labels)

    def welfare(self, labels: tuple[int, ...]) -> int:
        """Total true value minus total true cost of training a model for ``labels``."""
        return sum(self.value(i, labels) for i in range(len(self.targets))) - sum(
            self.cost(j, labels) for j in range(len(self.label_costs)))


def draw_market(rng: random.Random, owners: int = 10, stations: int = 10, core: int = 2,
                extra_p: float = 0.5, owner_mean_gwei: int = 10, station_mean_gwei: int = 5) -> Market:
    """A market with a guaranteed common core; each other label joins a target with ``extra_p``."""
    common = tuple(sorted(rng.sample(range(N_LABELS), core)))
    targets = []
    for _ in range(owners):
        extra = [lab for lab in range(N_LABELS) if lab not in common and rng.random() < extra_p]
        targets.append(tuple(sorted(common + tuple(extra))))
    values = [[rng.randint(0, 2 * owner_mean_gwei) * GWEI if lab in t else 0 for lab in range(N_LABELS)]
              for t in targets]
    costs = [[rng.randint(0, 2 * station_mean_gwei) * GWEI for _ in range(N_LABELS)] for _ in range(stations)]
    return Market(common, targets, values, costs)


def proposals_profile(market: Market, proposals: list[tuple[int, ...]]) -> dict:
    """The truthful ``settle`` profile of a set of proposals (budget = the stations' mean cost)."""
    n_s = len(market.label_costs)
    costs = [[market.cost(j, p) for p in proposals] for j in range(n_s)]
    return {
        "budgets": [sum(row[m] for row in costs) for m in range(len(proposals))],
        "owner_weights": [1] * len(market.targets),
        "station_weights": [1] * n_s,
        "owner_values": [[market.value(i, p) for p in proposals] for i in range(len(market.targets))],
        "station_costs": costs,
    }
