"""The station bonus of SPEC section 9 in the reference: exact integers, rounding to the
contract, the fallback to weights, the books, and the bound on what a station's lie gains."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanism import BPS, bonus_pool, deposit_bounds, settle, station_bonus_hold, utility


@st.composite
def bonus_profiles(draw, amount=st.integers(0, 60), weight=st.integers(1, 5)):
    n_o, n_s, m = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return dict(
        budgets=draw(st.lists(amount, min_size=m, max_size=m)),
        owner_weights=draw(st.lists(weight, min_size=n_o, max_size=n_o)),
        station_weights=draw(st.lists(weight, min_size=n_s, max_size=n_s)),
        owner_values=draw(st.lists(st.lists(amount, min_size=m, max_size=m), min_size=n_o, max_size=n_o)),
        station_costs=draw(st.lists(st.lists(amount, min_size=m, max_size=m), min_size=n_s, max_size=n_s)),
        bonus_bps=draw(st.integers(0, BPS)),
        contributions=draw(st.one_of(st.none(), st.lists(st.integers(0, 9), min_size=n_s, max_size=n_s))),
        subsidy=draw(st.integers(0, 30)),
    )


@settings(max_examples=300, deadline=None)
@given(bonus_profiles())
def test_the_bonus_leaves_the_choice_and_every_tax_and_owner_payment_unchanged(p):
    plain = {k: v for k, v in p.items() if k not in ("bonus_bps", "contributions")}
    a, b = settle(**plain), settle(**p)
    assert (a.winner, a.welfare, a.owner_tax, a.station_tax, a.owner_pays, a.station_share) == (
        b.winner, b.welfare, b.owner_tax, b.station_tax, b.owner_pays, b.station_share)


@settings(max_examples=300, deadline=None)
@given(bonus_profiles())
def test_stations_are_paid_at_most_the_budget_and_every_wei_is_accounted_for(p):
    o = settle(**p)
    budget = 0 if o.winner is None else o.budgets[o.winner]
    assert o.bonus_pool == bonus_pool(budget, p["bonus_bps"])
    assert 0 <= sum(o.station_bonus or []) <= o.bonus_pool
    assert sum(o.station_paid) <= budget
    pool_pays = 0 if o.winner is None else min(p["subsidy"], budget)
    assert sum(o.owner_pays) + pool_pays == sum(o.station_receives) + o.surplus
    assert o.dust >= 0 and o.surplus >= 0
    assert [pd - t for pd, t in zip(o.station_paid, o.station_tax)] == o.station_receives


def test_no_bonus_is_exactly_the_mechanism_without_one():
    p = dict(budgets=[100, 50], owner_weights=[1, 2], station_weights=[1, 3], owner_values=[[80, 10], [90, 40]],
             station_costs=[[5, 5], [10, 3]])
    assert settle(**p, bonus_bps=0, contributions=[5, 0]) == settle(**p)


def test_the_bonus_follows_the_contributions_and_falls_back_to_weights_when_they_sum_to_zero():
    p = dict(budgets=[100], owner_weights=[1], station_weights=[1, 3], owner_values=[[200]], station_costs=[[0], [0]])
    by_contribution = settle(**p, bonus_bps=4000, contributions=[3, 1])
    assert by_contribution.bonus_pool == 40
    assert by_contribution.station_weight_part == [15, 45]  # floor(60 * u / 4)
    assert by_contribution.station_bonus == [30, 10]
    by_weight = settle(**p, bonus_bps=4000, contributions=[0, 0])
    assert by_weight.station_bonus == [10, 30] == settle(**p, bonus_bps=4000).station_bonus


@pytest.mark.parametrize(("field", "kwargs"), [
    ("bonus_bps", dict(bonus_bps=10_001)),
    ("bonus_bps", dict(bonus_bps=-1)),
    ("contributions", dict(bonus_bps=10, contributions=[1])),
    ("contributions", dict(bonus_bps=10, contributions=[1, -2])),
])
def test_bad_bonus_input_names_its_field(field, kwargs):
    p = dict(budgets=[10], owner_weights=[1], station_weights=[1, 1], owner_values=[[5]], station_costs=[[1], [1]])
    with pytest.raises(ValueError, match=field):
        settle(**p, **kwargs)


def _best_lie_gain(p: dict, j: int, top: int) -> int:
    """The largest gain of station ``j`` over every lie with claims in ``0..top``."""
    truth = p["station_costs"][j]
    honest = utility(settle(**p), "station", j, truth)
    best = 0
    for lie in itertools.product(range(top + 1), repeat=len(truth)):
        costs = [list(lie) if n == j else row for n, row in enumerate(p["station_costs"])]
        best = max(best, utility(settle(**{**p, "station_costs": costs}), "station", j, truth) - honest)
    return best


@settings(max_examples=40, deadline=None)
@given(bonus_profiles(amount=st.integers(0, 12)))
def test_no_lie_gains_a_station_more_than_the_largest_bonus_pool_plus_one(p):
    bound = max(bonus_pool(c, p["bonus_bps"]) for c in p["budgets"]) + 1
    for j in range(len(p["station_weights"])):
        assert _best_lie_gain(p, j, 13) <= bound


def test_a_small_station_that_did_all_the_work_gains_the_whole_bonus_pool_by_a_lie():
    # proposal 0 is worth exactly nothing (a tie with none): the station shades its cost by 1,
    # the proposal wins at no Clarke cost, and the station takes the bonus B = C.
    p = dict(budgets=[10**6], owner_weights=[1], station_weights=[1, 10**6], owner_values=[[5]],
             station_costs=[[5], [0]], bonus_bps=BPS, contributions=[1, 0])
    truth = p["station_costs"][0]
    lied = {**p, "station_costs": [[4], [0]]}
    gain = utility(settle(**lied), "station", 0, truth) - utility(settle(**p), "station", 0, truth)
    assert gain == 10**6 == bonus_pool(10**6, BPS)


@settings(max_examples=200, deadline=None)
@given(bonus_profiles())
def test_a_station_deposit_at_its_bound_covers_its_settlement_before_any_bonus(p):
    o = settle(**p)
    _, deposits = deposit_bounds(p["budgets"], p["owner_weights"], p["owner_values"], p["station_costs"],
                                 subsidy=p["subsidy"], bonus_bps=p["bonus_bps"], station_weights=p["station_weights"])
    weight_part = o.station_weight_part or o.station_share
    for j, dep in enumerate(deposits):
        assert dep + weight_part[j] - o.station_tax[j] >= 0
        hold = station_bonus_hold(max(p["budgets"]), p["bonus_bps"], p["station_weights"][j], sum(p["station_weights"]))
        assert dep == max(p["station_costs"][j]) + hold
