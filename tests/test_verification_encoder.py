"""The z3 encoding is itself tested: on random concrete profiles it computes what settle does.

Each example builds the symbolic settlement, substitutes the profile's numbers for the
symbols, simplifies, and compares every field with ``mechanism.settle``; the shares'
integer division is compared with Python's on both signs.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanism import MAX_AMOUNT, ceil_div, settle, utility
from tests.profiles import profiles
from verification import encoder as enc


def _evaluated(profile: dict[str, Any], rule: str, policy: str, draws: list[int] | None = None) -> dict[str, Any]:
    n = len(profile["budgets"])
    sym = enc.fresh_profile(n, profile["owner_weights"], profile["station_weights"])
    draw = enc.fresh_vector("draw", n) if policy == "uniform" else None
    out = enc.encode_settle(sym, rule, policy, draw)
    pairs = enc.substitution(sym, profile)
    if draw is not None:
        assert draws is not None
        pairs += [(d, z3.IntVal(v)) for d, v in zip(draw, draws)]
    ev = lambda t: enc.evaluate(t, pairs)  # noqa: E731
    winner = ev(out.winner)
    owner_u = [ev(enc.utility(out, "owner", i, row)) for i, row in enumerate(sym.owner_values)]
    station_u = [ev(enc.utility(out, "station", j, row)) for j, row in enumerate(sym.station_costs)]
    return {
        "winner": None if winner == enc.NONE else winner,
        "welfare": [ev(s) for s in out.welfare],
        "budgets": [ev(c) for c in out.budgets],
        "owner_tax": [ev(t) for t in out.owner_tax],
        "station_tax": [ev(t) for t in out.station_tax],
        "owner_pays": [ev(p) for p in out.owner_pays],
        "station_receives": [ev(r) for r in out.station_receives],
        "surplus": ev(out.surplus),
        "dust": ev(out.dust),
        "utilities": (owner_u, station_u),
        "draws_inside": all(z3.is_true(z3.simplify(z3.substitute(c, *pairs))) for c in out.constraints),
    }


def _reference(profile: dict[str, Any], **kw: Any) -> dict[str, Any]:
    o = settle(**profile, **kw)
    return {
        "winner": o.winner,
        "welfare": o.welfare,
        "budgets": o.budgets,
        "owner_tax": o.owner_tax,
        "station_tax": o.station_tax,
        "owner_pays": o.owner_pays,
        "station_receives": o.station_receives,
        "surplus": o.surplus,
        "dust": o.dust,
        "utilities": (
            [utility(o, "owner", i, row) for i, row in enumerate(profile["owner_values"])],
            [utility(o, "station", j, row) for j, row in enumerate(profile["station_costs"])],
        ),
    }


@settings(max_examples=40, deadline=None)
@given(profiles(max_proposals=4), st.sampled_from(["clarke", "paper"]), st.sampled_from(["budget", "midpoint"]))
def test_the_encoding_evaluates_to_settles_outcome_on_random_profiles(profile: dict[str, Any], rule: str, policy: str) -> None:
    got = _evaluated(profile, rule, policy)
    got.pop("draws_inside")
    assert got == _reference(profile, rule=rule, budget_policy=policy)


@settings(max_examples=15, deadline=None)
@given(profiles(max_proposals=3, max_amount=MAX_AMOUNT // 8, max_weight=MAX_AMOUNT))
def test_the_encoding_is_exact_at_amounts_near_the_cap(profile: dict[str, Any]) -> None:
    got = _evaluated(profile, "clarke", "budget")
    got.pop("draws_inside")
    assert got == _reference(profile)


@settings(max_examples=20, deadline=None)
@given(profiles(max_proposals=3), st.integers(0, 2**32), st.sampled_from(["clarke", "paper"]))
def test_a_uniform_draw_of_settle_is_one_the_encoding_allows_and_gives_the_same_outcome(
    profile: dict[str, Any], seed: int, rule: str
) -> None:
    reference = settle(**profile, rule=rule, budget_policy="uniform", seed=seed)
    got = _evaluated(profile, rule, "uniform", draws=reference.budgets)
    assert got.pop("draws_inside")
    assert got == _reference(profile, rule=rule, budget_policy="uniform", seed=seed)


def test_a_draw_outside_the_uniform_interval_violates_the_encodings_side_condition() -> None:
    profile = {"budgets": [0], "owner_weights": [1], "station_weights": [1], "owner_values": [[10]], "station_costs": [[4]]}
    got = _evaluated(profile, "clarke", "uniform", draws=[11])
    assert not got["draws_inside"]


@given(st.integers(-(2**100), 2**100), st.integers(1, 2**97))
def test_integer_division_terms_are_floor_and_ceiling_exactly(a: int, d: int) -> None:
    x = z3.Int("x")
    assert enc.evaluate(enc.floor_div(x, d), [(x, z3.IntVal(a))]) == a // d
    assert enc.evaluate(enc.ceil_div(x, d), [(x, z3.IntVal(a))]) == ceil_div(a, d)


def test_ties_go_to_the_lowest_index_and_a_zero_maximum_to_none() -> None:
    def winner(welfare: list[int]) -> int:
        _, w = enc.choose([z3.IntVal(s) for s in welfare])
        return enc.evaluate(w, [])

    assert winner([3, 5, 5, 1]) == 1
    assert winner([0, 0]) == enc.NONE
    assert winner([-1, 0, -4]) == enc.NONE
    assert winner([-1, 2]) == 1


def test_a_non_positive_divisor_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="d:"):
        enc.floor_div(z3.Int("x"), 0)


def test_an_unknown_rule_or_policy_is_refused_naming_the_field() -> None:
    sym = enc.fresh_profile(1, [1], [1])
    with pytest.raises(ValueError, match="rule"):
        enc.encode_settle(sym, "vcg")
    with pytest.raises(ValueError, match="budget_policy"):
        enc.encode_settle(sym, "clarke", "auction")
    with pytest.raises(ValueError, match="draw"):
        enc.encode_settle(sym, "clarke", "uniform")


def test_a_vector_at_the_winner_reads_the_same_from_the_winner_term_or_its_literals() -> None:
    vec = [z3.IntVal(x) for x in (5, 7, 9)]
    for w in (0, 1, 2, enc.NONE):
        term = z3.IntVal(w)
        literals = tuple(term == m for m in range(3))
        assert enc.evaluate(enc.at(vec, term), []) == enc.evaluate(enc.at(vec, literals), []) == (0 if w == enc.NONE else [5, 7, 9][w])
