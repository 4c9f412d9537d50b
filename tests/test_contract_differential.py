"""Differential tests: the contract and ``mechanism.settle`` agree to the wei on every
generated profile (winner, welfare, every tax, every payment, surplus).

Examples per test: ``HCFL_HYPOTHESIS_PROFILE=long`` (or ``--hypothesis-profile=long``)
searches much longer than the CI default.
"""

from __future__ import annotations

import os

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import settle_on_chain
from mechanism import MAX_AMOUNT, settle

settings.register_profile(
    "contract-ci", max_examples=30, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "contract-long", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck)
)
PROFILE = "contract-long" if os.environ.get("HCFL_HYPOTHESIS_PROFILE") == "long" else "contract-ci"

FIELDS = ("winner", "welfare", "owner_tax", "station_tax", "owner_pays", "station_receives", "surplus")


@st.composite
def profiles(draw, amount=st.integers(0, 60), weight=st.integers(1, 5)):
    """Small numbers make ties, zero welfare and pivotal participants common."""
    n_o = draw(st.integers(1, 4))
    n_s = draw(st.integers(1, 4))
    m = draw(st.integers(1, 4))
    return dict(
        budgets=draw(st.lists(amount, min_size=m, max_size=m)),
        owner_weights=draw(st.lists(weight, min_size=n_o, max_size=n_o)),
        station_weights=draw(st.lists(weight, min_size=n_s, max_size=n_s)),
        owner_values=draw(st.lists(st.lists(amount, min_size=m, max_size=m), min_size=n_o, max_size=n_o)),
        station_costs=draw(st.lists(st.lists(amount, min_size=m, max_size=m), min_size=n_s, max_size=n_s)),
    )


BONUS_FIELDS = ("bonus_pool", "station_bonus", "station_weight_part", "dust")


def agree(profile: dict) -> None:
    ref = settle(**profile)
    with boa.env.anchor():
        out = settle_on_chain(**profile)
    assert {f: getattr(out, f) for f in FIELDS} == {f: getattr(ref, f) for f in FIELDS}
    assert out.dust == ref.dust
    if profile.get("bonus_bps"):
        assert {f: getattr(out, f) for f in BONUS_FIELDS} == {f: getattr(ref, f) for f in BONUS_FIELDS}


@st.composite
def bonus_profiles(draw, amount=st.integers(0, 60), weight=st.integers(1, 5)):
    """A profile, a bonus fraction (often 100 %) and the winner's report: none (the bonus
    goes by weight), all zeros (by weight too) or any contributions."""
    p = draw(profiles(amount, weight))
    n_s = len(p["station_weights"])
    p["bonus_bps"] = draw(st.one_of(st.just(10_000), st.integers(1, 10_000)))
    p["contributions"] = draw(st.one_of(st.none(), st.just([0] * n_s),
                                        st.lists(st.integers(0, 9), min_size=n_s, max_size=n_s),
                                        st.lists(st.integers(0, MAX_AMOUNT), min_size=n_s, max_size=n_s)))
    return p


@settings(settings.get_profile(PROFILE))
@given(bonus_profiles())
def test_contract_agrees_with_the_reference_on_the_station_bonus(profile):
    agree(profile)


@settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 2)
@given(bonus_profiles(amount=st.integers(0, MAX_AMOUNT), weight=st.integers(1, MAX_AMOUNT)))
def test_contract_agrees_with_the_reference_on_the_station_bonus_at_the_largest_amounts(profile):
    agree(profile)


@settings(settings.get_profile(PROFILE))
@given(profiles())
def test_contract_agrees_with_the_reference_on_small_profiles(profile):
    agree(profile)


@settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 2)
@given(profiles(amount=st.integers(0, MAX_AMOUNT), weight=st.integers(1, MAX_AMOUNT)))
def test_contract_agrees_with_the_reference_at_the_largest_amounts(profile):
    agree(profile)


def test_contract_agrees_at_the_papers_size_of_ten_owners_stations_and_proposals():
    import random

    rng = random.Random(7)
    p = dict(
        budgets=[rng.randint(0, 10**18) for _ in range(10)],
        owner_weights=[rng.randint(1, 9) for _ in range(10)],
        station_weights=[rng.randint(1, 9) for _ in range(10)],
        owner_values=[[rng.randint(0, 10**18) for _ in range(10)] for _ in range(10)],
        station_costs=[[rng.randint(0, 10**17) for _ in range(10)] for _ in range(10)],
    )
    agree(p)


def test_a_round_where_nothing_is_worth_training_chooses_none_on_chain_too():
    p = dict(budgets=[10], owner_weights=[1], station_weights=[1], owner_values=[[5]], station_costs=[[5]])
    assert settle(**p).winner is None
    agree(p)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(rule="paper"), "rule"),
        (dict(budget_policy="midpoint"), "budget_policy"),
        (dict(budgets=[]), "budgets"),
        (dict(owner_values=[[1, 2]]), "owner_values"),
        (dict(station_weights=[0]), "station_weights"),
    ],
)
def test_settle_on_chain_rejects_what_it_cannot_run_naming_the_field(kwargs, field):
    p = dict(budgets=[10], owner_weights=[1], station_weights=[1], owner_values=[[5]], station_costs=[[1]])
    p.update(kwargs)
    with pytest.raises(ValueError, match=field):
        settle_on_chain(**p)
