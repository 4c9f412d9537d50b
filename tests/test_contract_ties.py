"""The contract and ``mechanism.settle`` agree where ties decide the outcome: equal best
welfare (lowest index wins), a best welfare of exactly 0 (``none`` wins), and the taxes that
follow. Random profiles rarely tie; these are built to."""

from __future__ import annotations

import boa
from hypothesis import HealthCheck, given, settings

from contracts import settle_on_chain
from mechanism import settle
from tests.profiles import tied_profiles

FIELDS = ("winner", "welfare", "owner_tax", "station_tax", "owner_pays", "station_receives", "surplus")


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(tied_profiles())
def test_on_tied_proposals_the_contract_picks_and_charges_what_settle_does(profile: dict) -> None:
    ref = settle(**profile)
    with boa.env.anchor():
        out = settle_on_chain(**profile)
    assert {f: getattr(out, f) for f in FIELDS} == {f: getattr(ref, f) for f in FIELDS}


def test_two_equal_best_proposals_go_to_the_first_on_chain_too() -> None:
    p = dict(budgets=[2, 2, 2], owner_weights=[1], station_weights=[1], owner_values=[[1, 5, 5]], station_costs=[[0, 1, 1]])
    assert settle(**p).winner == 1
    with boa.env.anchor():
        assert settle_on_chain(**p).winner == 1


def test_a_best_welfare_of_exactly_zero_chooses_none_on_chain_too() -> None:
    p = dict(budgets=[2, 2], owner_weights=[1], station_weights=[1], owner_values=[[3, 1]], station_costs=[[3, 4]])
    assert settle(**p).winner is None
    with boa.env.anchor():
        assert settle_on_chain(**p).winner is None
