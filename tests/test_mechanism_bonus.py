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


def test_issue_23s_no_show_station_is_charged_at_most_its_weight_part_and_takes_no_bonus():
    ether = 10**18
    p = dict(budgets=[ether], owner_weights=[1], station_weights=[1, 1], owner_values=[[1]],
             station_costs=[[0], [0]], bonus_bps=2500, contributions=[1, 0])
    as_if_revealed = settle(**p)
    silent = settle(**p, no_show_stations=[1])
    # claiming zeros its Clarke tax is its nominal share less the welfare, 0.5 ETH - 1, but it
    # is paid only its weight part 0.375 ETH at settlement: the old rule left it owing 0.125 ETH
    assert as_if_revealed.station_tax[1] - as_if_revealed.station_weight_part[1] == ether // 8 - 1
    assert silent.station_tax == [ether // 2 - 1, 375 * 10**15] and silent.station_receives[1] == 0
    assert silent.station_bonus == [ether // 4, 0] and silent.no_show_stations == (1,)
    assert (silent.winner, silent.owner_pays, silent.owner_tax) == (
        as_if_revealed.winner, as_if_revealed.owner_pays, as_if_revealed.owner_tax)
    assert sum(silent.owner_pays) == sum(silent.station_receives) + silent.surplus
    assert silent.surplus == 875 * 10**15 - 1


@st.composite
def no_show_profiles(draw):
    p = draw(bonus_profiles())
    silent = draw(st.lists(st.booleans(), min_size=len(p["station_weights"]), max_size=len(p["station_weights"])))
    p["station_costs"] = [[0] * len(row) if s else row for row, s in zip(p["station_costs"], silent)]
    return p, [j for j, s in enumerate(silent) if s]


@settings(max_examples=300, deadline=None)
@given(no_show_profiles())
def test_a_station_that_never_revealed_never_owes_and_every_wei_is_still_accounted_for(case):
    p, silent = case
    o, zeros = settle(**p, no_show_stations=silent), settle(**p)
    assert (o.winner, o.owner_tax, o.owner_pays) == (zeros.winner, zeros.owner_tax, zeros.owner_pays)
    weight_part = o.station_weight_part or o.station_share
    for j in range(len(p["station_weights"])):
        if j in silent:
            assert o.station_receives[j] >= 0 and (o.station_bonus or [0] * (j + 1))[j] == 0
            assert o.station_tax[j] == min(zeros.station_tax[j], weight_part[j])
        else:
            assert (o.station_tax[j], o.station_receives[j]) == (zeros.station_tax[j], zeros.station_receives[j])
    budget = 0 if o.winner is None else o.budgets[o.winner]
    pool_pays = 0 if o.winner is None else min(p["subsidy"], budget)
    assert sum(o.owner_pays) + pool_pays == sum(o.station_receives) + o.surplus
    assert o.dust >= 0 and o.surplus >= 0


@settings(max_examples=200, deadline=None)
@given(bonus_profiles(amount=st.integers(0, 30)), st.data())
def test_never_revealing_gains_a_station_no_more_than_the_largest_bonus_pool_plus_one(p, data):
    j = data.draw(st.integers(0, len(p["station_weights"]) - 1))
    truth = p["station_costs"][j]
    silent = {**p, "station_costs": [[0] * len(row) if n == j else row for n, row in enumerate(p["station_costs"])]}
    gain = utility(settle(**silent, no_show_stations=[j]), "station", j, truth) - utility(settle(**p), "station", j, truth)
    assert gain <= max(bonus_pool(c, p["bonus_bps"]) for c in p["budgets"]) + 1


@pytest.mark.parametrize(("stations", "match"), [
    ([2], "no_show_stations: 2 is not a station index"),
    ([0], "no_show_stations: station 0 never revealed, so its station_costs row must be all zeros"),
    ("1", "no_show_stations: expected a list"),
])
def test_bad_no_show_stations_are_refused_by_name(stations, match):
    p = dict(budgets=[10], owner_weights=[1], station_weights=[1, 1], owner_values=[[5]], station_costs=[[1], [0]])
    with pytest.raises(ValueError, match=match):
        settle(**p, no_show_stations=stations)


def test_the_bonus_rounding_remainder_goes_to_the_pool_not_to_a_station():
    # B = 100 split three ways by equal contributions: 33 each, the remaining wei stays with
    # the contract (the surplus, which the recycle pool collects), as the contract's last
    # credit sweeps it
    o = settle(budgets=[1000], owner_weights=[1], station_weights=[1, 1, 1], owner_values=[[5000]],
               station_costs=[[0], [0], [0]], bonus_bps=1000, contributions=[1, 1, 1])
    assert o.bonus_pool == 100 and o.station_bonus == [33, 33, 33]
    assert o.station_weight_part == [300, 300, 300] and o.station_receives == [333, 333, 333]
    assert sum(o.owner_tax) + sum(o.station_tax) == 0 and o.owner_pays == [1000]
    assert o.dust == o.surplus == 1


@settings(max_examples=300, deadline=None)
@given(bonus_profiles())
def test_the_surplus_is_the_taxes_and_three_roundings_each_never_negative(p):
    o = settle(**p)
    budget = 0 if o.winner is None else o.budgets[o.winner]
    pool_pays = 0 if o.winner is None else min(p["subsidy"], budget)
    weight = o.station_weight_part or o.station_share
    bonus = o.station_bonus or [0] * len(weight)
    owners_over = sum(o.owner_share) + pool_pays - budget  # owners' shares round up
    weights_short = budget - o.bonus_pool - sum(weight)  # the weight parts round down
    bonus_left = o.bonus_pool - sum(bonus)  # the bonuses round down: the remainder is the pool's
    assert min(owners_over, weights_short, bonus_left) >= 0
    assert bonus_left < max(1, len(weight))
    assert o.surplus == sum(o.owner_tax) + sum(o.station_tax) + owners_over + weights_short + bonus_left


@settings(max_examples=500, deadline=None)
@given(budget=st.integers(0, 2**96 - 1), bps=st.integers(0, BPS), u=st.integers(1, 2**20), rest=st.integers(0, 2**40))
def test_station_bonus_hold_rounds_up_exactly_as_the_contracts_reveal_bound(budget, bps, u, rest):
    total = u + rest
    # HCFL.vy's reveal: big = max_budget * BONUS_BPS // MAX_BPS, then _ceil_div(big * weight, U)
    big = budget * bps // 10_000
    assert station_bonus_hold(budget, bps, u, total) == (big * u + total - 1) // total
    # and it covers the bonus part of the station's nominal share, r - floor((C - B) u / U)
    r = budget * u // total
    assert station_bonus_hold(budget, bps, u, total) >= r - (budget - big) * u // total
