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


def test_solvency_refutes_settling_a_silent_station_as_zeros_and_proves_the_codes_rule():
    """Issue 23: with every participant free to reveal or not, the earlier contract's rule
    (a station that never revealed settled as if it revealed zeros) lets a station with a
    1 wei deposit owe more than it; the witness replays through ``mechanism.settle``, and
    the code's rule (charged at most its weight part, no bonus) is proved."""
    old = bonus.check_solvency_with_bonus(Bounds(1), no_show_rule="as zeros", timeout_s=30)
    assert old.verdict == REFUTED and old.as_expected
    w = old.witness
    j = w["index"]
    assert w["side"] == "station" and j in w["never_revealed"]["stations"] and w["owes"] > w["deposit"] >= 1
    as_zeros = mechanism.settle(**w["profile"])
    assert as_zeros.station_tax[j] - as_zeros.station_weight_part[j] == w["owes"]
    capped = mechanism.settle(**w["profile"], no_show_stations=w["never_revealed"]["stations"])
    assert capped.station_tax[j] <= capped.station_weight_part[j] and capped.station_receives[j] >= 0
    new = bonus.check_solvency_with_bonus(Bounds(1), no_show_rule="capped", timeout_s=30)
    assert new.verdict == PROVED and new.as_expected
