"""Hand-computed settlements and input checks of the reference mechanism (SPEC sections 2, 3, 6)."""

from __future__ import annotations

import pytest

from mechanism import MAX_AMOUNT, cost_shares, dust, reward_shares, settle, utility


def test_pivotal_owner_pays_the_harm_it_causes() -> None:
    # Owners w=[1,1], one station u=[1]; budgets 10 -> c=[5,5], r=[10] for both proposals.
    # S = [30+0-5, 0+20-5] = [25, 15]: proposal 0 wins.
    # Owner 0: n0 = [30-5, 0-5] = [25, -5]; S_-0 = [25-25, 15+5] = [0, 20];
    #   without owner 0, proposal 1 would win; tax0 = 20 - 0 = 20, pays c + tax = 25.
    # Owner 1: n1 = [-5, 15]; S_-1 = [30, 0]; tax1 = 30 - 30 = 0.
    # Station: n = [5, 5]; S_-s = [20, 10]; tax = 0, receives r = 10.
    out = settle(
        budgets=[10, 10],
        owner_weights=[1, 1],
        station_weights=[1],
        owner_values=[[30, 0], [0, 20]],
        station_costs=[[5, 5]],
    )
    assert out.winner == 0
    assert out.welfare == [25, 15]
    assert out.owner_tax == [20, 0]
    assert out.owner_pivotal == [True, False]
    assert out.owner_pays == [25, 5]
    assert out.station_tax == [0]
    assert out.station_receives == [10]
    assert out.surplus == 20
    assert utility(out, "owner", 0, [30, 0]) == 5


def test_pivotal_station_has_its_reward_cut_by_the_harm_it_causes() -> None:
    # One owner w=[1], stations u=[1,1]; budgets 20 -> c=[20], r=[10,10].
    # S = [40-30-0, 38-0-0] = [10, 38]: proposal 1 wins.
    # Station 0: n = [10-30, 10-0] = [-20, 10]; S_-s0 = [10+20, 38-10] = [30, 28];
    #   without station 0 proposal 0 would win; tax = 30 - 28 = 2, receives 10 - 2 = 8.
    # Station 1: n = [10, 10]; S_-s1 = [0, 28]; tax 0.  Owner: n = [20, 18]; S_-o = [-10, 20]; tax 0.
    out = settle(
        budgets=[20, 20],
        owner_weights=[1],
        station_weights=[1, 1],
        owner_values=[[40, 38]],
        station_costs=[[30, 0], [0, 0]],
    )
    assert out.winner == 1
    assert out.station_tax == [2, 0]
    assert out.station_pivotal == [True, False]
    assert out.station_receives == [8, 10]
    assert out.owner_tax == [0]
    assert out.owner_pays == [20]
    assert out.surplus == 2
    assert utility(out, "station", 0, [30, 0]) == 8


def test_welfare_of_exactly_zero_goes_to_none() -> None:
    out = settle(budgets=[10], owner_weights=[1], station_weights=[1], owner_values=[[10]], station_costs=[[10]])
    assert out.welfare == [0]
    assert out.winner is None
    assert out.owner_pays == [0] and out.station_receives == [0] and out.surplus == 0


def test_a_participant_that_blocks_every_proposal_pays_tax_at_none() -> None:
    # S = [12 - 20] < 0 -> none. Station n = [6 - 20] = -14; S_-s = [-8 + 14] = [6]; tax = 6 - 0 = 6.
    out = settle(budgets=[6], owner_weights=[1], station_weights=[1], owner_values=[[12]], station_costs=[[20]])
    assert out.winner is None
    assert out.station_tax == [6]
    assert out.station_receives == [-6]
    assert out.owner_tax == [0]
    assert out.surplus == 6


def test_a_tie_between_proposals_goes_to_the_lowest_index() -> None:
    out = settle(
        budgets=[4, 4, 4],
        owner_weights=[1],
        station_weights=[1],
        owner_values=[[3, 9, 9]],
        station_costs=[[0, 2, 2]],
    )
    assert out.welfare == [3, 7, 7]
    assert out.winner == 1


def test_rounding_dust_favours_the_contract_when_weights_do_not_divide_the_budget() -> None:
    # W = 3: ceil(10/3) = 4 for each owner (12 in all); U = 3: floor(10/3) = 3, floor(20/3) = 6 (9 in all).
    assert cost_shares(10, [1, 1, 1]) == [4, 4, 4]
    assert reward_shares(10, [1, 2]) == [3, 6]
    assert dust(10, [1, 1, 1], [1, 2]) == 3
    out = settle(
        budgets=[10],
        owner_weights=[1, 1, 1],
        station_weights=[1, 2],
        owner_values=[[20], [20], [20]],
        station_costs=[[0], [0]],
    )
    assert out.winner == 0
    assert out.dust == 3
    assert out.owner_pays == [4, 4, 4]
    assert out.station_receives == [3, 6]
    assert out.surplus == 3


def test_paper_rule_counts_only_the_owners_side_in_an_owners_tax() -> None:
    # Same profile as the pivotal-owner case: the owners' side alone, n0 = [25, -5], n1 = [-5, 15].
    # S^O_-0 = n1 = [-5, 15] -> tax0 = 15 - (-5) = 20; S^O_-1 = n0 = [25, -5] -> tax1 = 0.
    # Station side alone: S^B_-s = [0, 0] (no other station) -> tax 0.
    out = settle(
        budgets=[10, 10],
        owner_weights=[1, 1],
        station_weights=[1],
        owner_values=[[30, 0], [0, 20]],
        station_costs=[[5, 5]],
        rule="paper",
    )
    assert out.winner == 0
    assert out.owner_tax == [20, 0]
    assert out.station_tax == [0]


def test_midpoint_budget_is_half_way_between_total_cost_and_total_value() -> None:
    out = settle(
        budgets=None,
        owner_weights=[1, 1],
        station_weights=[1],
        owner_values=[[30, 0], [0, 21]],
        station_costs=[[5, 4]],
        budget_policy="midpoint",
    )
    assert out.budgets == [(5 + 30) // 2, (4 + 21) // 2]


def test_uniform_budget_is_seeded_and_inside_the_interval() -> None:
    kwargs = dict(
        budgets=None,
        owner_weights=[1, 1],
        station_weights=[1],
        owner_values=[[30, 0], [0, 21]],
        station_costs=[[5, 4]],
        budget_policy="uniform",
    )
    a = settle(**kwargs, seed=7)
    assert a == settle(**kwargs, seed=7)
    assert 5 <= a.budgets[0] <= 30 and 4 <= a.budgets[1] <= 21


GOOD = dict(budgets=[10], owner_weights=[1], station_weights=[1], owner_values=[[5]], station_costs=[[1]])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner_values": [[-1]]}, "owner_values[0][0]"),
        ({"station_costs": [[-3]]}, "station_costs[0][0]"),
        ({"owner_values": [[1, 2]]}, "owner_values[0]"),
        ({"owner_values": [[1], [2]]}, "owner_values"),
        ({"station_costs": [[1, 2]], "budgets": [1, 2], "owner_values": [[1, 2]], "station_weights": [1, 1]}, "station_costs"),
        ({"owner_weights": [0]}, "owner_weights[0]"),
        ({"station_weights": [0]}, "station_weights[0]"),
        ({"budgets": [MAX_AMOUNT + 1]}, "budgets[0]"),
        ({"owner_values": [[MAX_AMOUNT + 1]]}, "owner_values[0][0]"),
        ({"owner_weights": [], "owner_values": []}, "owner_weights"),
        ({"station_weights": [], "station_costs": []}, "station_weights"),
        ({"budgets": [], "owner_values": [[]], "station_costs": [[]]}, "budgets"),
        ({"rule": "vickrey"}, "rule"),
        ({"budget_policy": "auction"}, "budget_policy"),
        ({"budgets": [1.5]}, "budgets[0]"),
        ({"owner_values": [[True]]}, "owner_values[0][0]"),
        ({"budget_policy": "uniform"}, "seed"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValueError) as err:
        settle(**{**GOOD, **change})
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_ragged_station_matrix_names_the_row() -> None:
    with pytest.raises(ValueError, match=r"^station_costs\[1\]: ragged"):
        settle(
            budgets=[1, 2],
            owner_weights=[1],
            station_weights=[1, 1],
            owner_values=[[1, 2]],
            station_costs=[[1, 2], [1]],
        )


def test_amounts_at_the_cap_are_accepted_and_stay_exact() -> None:
    big = MAX_AMOUNT
    out = settle(budgets=[big], owner_weights=[big, 1], station_weights=[3], owner_values=[[big], [big]], station_costs=[[0]])
    assert out.winner == 0
    assert sum(out.owner_pays) - sum(out.station_receives) == out.surplus


def test_a_negative_or_non_integer_subsidy_is_refused_naming_it() -> None:
    p = dict(budgets=[4], owner_weights=[1], station_weights=[1], owner_values=[[5]], station_costs=[[1]])
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="subsidy"):
            settle(**p, subsidy=bad)
