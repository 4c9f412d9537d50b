"""The bonus rows of ``verification.check``: the lemmas and the step of the bound for every
N and M, the replayed tightness witness, and a step without its rounding wei not proved."""

from __future__ import annotations

import mechanism
from verification import bonus
from verification.checks import Bounds
from verification.replay import replay_truthfulness
from verification.solver import PROVED, REFUTED


def test_every_lemma_and_the_step_of_the_station_bound_are_proved():
    answers = {**bonus.lemmas(30), **bonus.gain_step(30)}
    assert {name: a.verdict for name, a in answers.items()} == {name: PROVED for name in answers}
    assert bonus.check_bound_every_n_m(30).verdict == PROVED


def test_the_step_without_the_rounding_wei_is_not_proved(monkeypatch):
    monkeypatch.setattr(bonus, "ROUNDING", 0)
    step = bonus.gain_step(30)
    assert step["gain <= max B + 1, any M"].verdict == REFUTED


def test_the_tightness_witness_gains_the_whole_bonus_pool_in_the_reference():
    r = bonus.check_bound_tight(timeout_s=30)
    assert r.verdict == REFUTED and r.as_expected
    w = r.witness
    truthful, lying = replay_truthfulness(w)
    pool = max(mechanism.bonus_pool(c, w["profile"]["bonus_bps"]) for c in w["profile"]["budgets"])
    assert (truthful, lying) == (w["truthful_utility"], w["lie_utility"])
    assert pool - 1 <= lying - truthful <= pool + bonus.ROUNDING and pool >= 50


def test_the_bonus_rows_hold_on_the_whole_settlement():
    for row in (bonus.check_owners_unchanged(Bounds(2), timeout_s=30), bonus.check_bound_direct(Bounds(1), timeout_s=30),
                bonus.check_accounting_with_bonus(Bounds(2), timeout_s=30),
                bonus.check_solvency_with_bonus(Bounds(1), timeout_s=30)):
        assert row.verdict == PROVED, row
