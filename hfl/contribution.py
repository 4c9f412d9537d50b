"""Each base station's contribution to the final model, as non-negative integer reward weights.

The value of a coalition S of stations is the test accuracy (on the target labels) of the
weighted average of their final-round models, v(S) = acc(avg_{j in S} theta_j); v(empty) is a
given baseline (the trainer passes chance level, 1 / number of target labels). Two measures:

- leave-one-out: v(N) - v(N minus j), the marginal accuracy the paper's section IV-C names;
  always computed (n + 1 evaluations).
- Shapley value: exact over all 2^n coalitions when that fits the evaluation bound, otherwise
  estimated by sampling permutations in antithetic pairs (Castro et al. 2009) until the bound
  on evaluations is spent. Coalition values are cached, so no coalition is evaluated twice.

Reward weights are max(0, value) in millionths of accuracy, rounded: a station that harms the
model gets 0. If no station gets a positive weight, all get 1 (an equal split) so that the
contract's re-split by contribution never divides by zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from hfl.aggregate import weighted_average
from hfl.config import TrainConfig

SCALE = 1_000_000  # integer weights are millionths of accuracy


@dataclass(frozen=True)
class ContributionReport:
    weights: tuple[int, ...]  # what the contract uses
    loo: tuple[float, ...]
    shapley: tuple[float, ...] | None  # None when method == "loo"
    full_value: float  # v(N): accuracy of the aggregation of all stations
    evaluations: int  # model evaluations spent
    exact: bool  # Shapley computed over every coalition


def to_weights(values: Sequence[float], scale: int = SCALE) -> tuple[int, ...]:
    """Non-negative integer weights from real contributions (negative ones count as zero)."""
    w = tuple(int(round(max(0.0, float(v)) * scale)) for v in values)
    return w if sum(w) > 0 else tuple(1 for _ in values)


def measure_contributions(
    station_states: Sequence[Mapping[str, Tensor]],
    station_weights: Sequence[float],
    evaluate_fn: Callable[[Mapping[str, Tensor]], float],
    *,
    method: str = "shapley",
    max_evals: int = 64,
    empty_value: float = 0.0,
    seed: int = 0,
    scale: int = SCALE,
) -> ContributionReport:
    """Leave-one-out and (sampled) Shapley contributions of each station; see the module doc.

    `station_weights` are the aggregation weights (sample counts); `evaluate_fn(state)` returns
    the accuracy of a model state. `max_evals` bounds the evaluations beyond the n + 1 that
    leave-one-out needs.
    """
    n = len(station_states)
    if n == 0:
        raise ValueError("station_states: no stations")
    if len(station_weights) != n:
        raise ValueError(f"station_weights: {len(station_weights)} weights for {n} stations")
    if method not in ("loo", "shapley"):
        raise ValueError(f"method: must be 'loo' or 'shapley', got {method!r}")
    if max_evals < 1:
        raise ValueError(f"max_evals: must be >= 1, got {max_evals}")
    cache: dict[frozenset[int], float] = {frozenset(): float(empty_value)}

    def value(coalition: frozenset[int]) -> float:
        if coalition not in cache:
            members = sorted(coalition)
            w = [station_weights[j] for j in members]
            if sum(w) <= 0:  # stations without samples: the coalition is worth the empty one
                cache[coalition] = float(empty_value)
            else:
                cache[coalition] = float(evaluate_fn(weighted_average([station_states[j] for j in members], w)))
        return cache[coalition]

    everyone = frozenset(range(n))
    full = value(everyone)
    loo = tuple(full - value(everyone - {j}) for j in range(n))
    shapley: tuple[float, ...] | None = None
    exact = False
    if method == "shapley":
        if (1 << n) - 1 <= max_evals + n + 1:  # every coalition fits the bound: exact Shapley
            exact = True
            phi = [0.0] * n
            for j in range(n):
                others = [i for i in range(n) if i != j]
                for size in range(n):
                    coef = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                    for s in itertools.combinations(others, size):
                        base = frozenset(s)
                        phi[j] += coef * (value(base | {j}) - value(base))
            shapley = tuple(phi)
        else:
            rng = np.random.default_rng(seed)
            budget = (n + 1) + max_evals
            total = np.zeros(n)
            perms = 0
            # Each permutation costs at most n - 1 new evaluations (empty and full sets are cached);
            # stop before one that could overrun the bound, but take at least one antithetic pair.
            while perms < 2 or len(cache) - 1 + 2 * (n - 1) <= budget:
                order = rng.permutation(n)
                for perm in (order, order[::-1]):
                    prefix: frozenset[int] = frozenset()
                    prev = value(prefix)
                    for j in perm:
                        prefix = prefix | {int(j)}
                        cur = value(prefix)
                        total[j] += cur - prev
                        prev = cur
                    perms += 1
            shapley = tuple(float(v) for v in total / perms)
    base = shapley if shapley is not None else loo
    return ContributionReport(to_weights(base, scale), loo, shapley, full, len(cache) - 1, exact)


def contributions(
    station_states: Sequence[Mapping[str, Tensor]],
    station_weights: Sequence[float],
    evaluate_fn: Callable[[Mapping[str, Tensor]], float],
    **kwargs: object,
) -> list[int]:
    """Non-negative integer contribution weight per station (see `measure_contributions`)."""
    report = measure_contributions(station_states, station_weights, evaluate_fn, **kwargs)  # type: ignore[arg-type]
    return list(report.weights)


def station_contributions(cfg: TrainConfig, station_states: Sequence[Mapping[str, Tensor]],
                          station_samples: Sequence[int],
                          evaluate_fn: Callable[[Mapping[str, Tensor]], float]) -> ContributionReport:
    """The contribution measurement of a finished job (final-round station models, weighted by
    their samples), as `hfl.train.train` does it: the config's method, evaluation bound and seed;
    an empty coalition is worth chance level on the scored labels. Every training path calls this,
    so the in-process and the Flower results agree."""
    return measure_contributions(station_states, station_samples, evaluate_fn, method=cfg.contribution,
                                 max_evals=cfg.max_evals, empty_value=1.0 / len(cfg.scored_labels), seed=cfg.seed)


__all__ = ["SCALE", "ContributionReport", "contributions", "measure_contributions", "station_contributions",
           "to_weights"]
