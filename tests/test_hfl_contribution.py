"""hfl.contribution: leave-one-out and Shapley contributions on games whose answers are known."""

from __future__ import annotations

import pytest
import torch

from hfl.contribution import SCALE, contributions, measure_contributions, to_weights


def membership_game(values: list[float]):
    """Station j's state is the one-hot e_j (equal weights): an average is positive exactly on
    the coalition's members, so evaluate_fn can score the coalition as sum of its values."""
    n = len(values)
    states = [{"m": torch.eye(n, dtype=torch.float64)[j]} for j in range(n)]
    calls: list[frozenset[int]] = []

    def evaluate_fn(state) -> float:
        members = frozenset(int(j) for j in torch.nonzero(state["m"] > 0).flatten())
        calls.append(members)
        return sum(values[j] for j in members)

    return states, evaluate_fn, calls


def test_additive_game_gives_each_station_its_own_value():
    values = [0.30, 0.10, -0.05, 0.20]
    states, fn, _ = membership_game(values)
    report = measure_contributions(states, [1, 1, 1, 1], fn)
    assert report.exact
    assert report.shapley == pytest.approx(values)
    assert report.loo == pytest.approx(values)
    assert report.weights == (300_000, 100_000, 0, 200_000)  # millionths; harm counts as zero


def test_sampled_shapley_keeps_to_the_evaluation_bound():
    values = [0.01 * (j + 1) for j in range(9)]
    states, fn, calls = membership_game(values)
    report = measure_contributions(states, [1] * 9, fn, max_evals=40, seed=3)
    assert not report.exact
    assert report.evaluations == len(calls) == len(set(calls))  # no coalition evaluated twice
    assert report.evaluations <= 40 + 9 + 1
    assert report.shapley == pytest.approx(values)  # every permutation gives the exact answer here


def test_shapley_splits_a_synergy_equally_where_leave_one_out_sees_it_twice():
    # v = 1 only when stations 0 and 1 are both in; station 2 is useless.
    states = [{"m": torch.eye(3, dtype=torch.float64)[j]} for j in range(3)]

    def fn(state) -> float:
        return float(bool(state["m"][0] > 0) and bool(state["m"][1] > 0))

    report = measure_contributions(states, [1, 1, 1], fn)
    assert report.shapley == pytest.approx([0.5, 0.5, 0.0])
    assert report.loo == pytest.approx([1.0, 1.0, 0.0])
    assert contributions(states, [1, 1, 1], fn, method="loo") == [SCALE, SCALE, 0]


def test_weights_are_non_negative_integers_and_never_all_zero():
    assert to_weights([0.1234567, -0.2, 0.0]) == (123_457, 0, 0)
    assert to_weights([-0.1, 0.0]) == (1, 1)


def test_bad_arguments_are_refused_naming_them():
    states, fn, _ = membership_game([0.1, 0.2])
    with pytest.raises(ValueError, match="station_weights"):
        measure_contributions(states, [1], fn)
    with pytest.raises(ValueError, match="method"):
        measure_contributions(states, [1, 1], fn, method="banzhaf")
