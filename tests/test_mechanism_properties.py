"""Property tests of the reference mechanism over random profiles (SPEC section 4).

Hypothesis draws profiles, participants and lies; each test checks one property that must
hold for every profile under rule ``clarke`` with budget policy ``budget``. The last tests
show, with witnesses, that the paper's rule and the ``midpoint`` budget are *not* truthful.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanism import cost_shares, settle, settle_fast, utility
from tests.profiles import huge_profiles, profiles, random_profile, tied_profiles


def _with_claim(profile: dict[str, Any], side: str, index: int, claim: list[int]) -> dict[str, Any]:
    key = "owner_values" if side == "owner" else "station_costs"
    rows = [list(r) for r in profile[key]]
    rows[index] = claim
    return {**profile, key: rows}


@st.composite
def profile_with_lie(draw: st.DrawFn, **kw: Any) -> tuple[dict[str, Any], str, int, list[int]]:
    profile = draw(profiles(**kw))
    side = draw(st.sampled_from(["owner", "station"]))
    rows = profile["owner_values" if side == "owner" else "station_costs"]
    index = draw(st.integers(0, len(rows) - 1))
    n_m = len(profile["budgets"])
    truth = rows[index]
    # Lies near the truth find the knife edges; free lies find the big swings.
    near = st.tuples(*[st.integers(max(0, t - 5), t + 5) for t in truth]).map(list)
    free = st.lists(st.integers(0, 400), min_size=n_m, max_size=n_m)
    lie = draw(st.one_of(near, free))
    return profile, side, index, lie


@settings(max_examples=3000, deadline=None)
@given(profile_with_lie())
def test_no_lie_ever_beats_the_truth_under_clarke_with_fixed_budgets(case: tuple) -> None:
    profile, side, index, lie = case
    truth = (profile["owner_values"] if side == "owner" else profile["station_costs"])[index]
    honest = utility(settle(**profile), side, index, truth)
    lying = utility(settle(**_with_claim(profile, side, index, lie)), side, index, truth)
    assert honest >= lying, (profile, side, index, lie, honest, lying)


@settings(max_examples=400, deadline=None)
@given(st.one_of(profiles(), huge_profiles()), st.sampled_from(["clarke", "paper"]))
def test_taxes_and_surplus_are_never_negative(profile: dict[str, Any], rule: str) -> None:
    out = settle(**profile, rule=rule)
    assert all(t >= 0 for t in out.owner_tax + out.station_tax)
    assert out.surplus >= 0


@settings(max_examples=400, deadline=None)
@given(st.one_of(profiles(), huge_profiles()), st.sampled_from(["clarke", "paper"]))
def test_payments_in_equal_payments_out_plus_surplus_to_the_wei(profile: dict[str, Any], rule: str) -> None:
    out = settle(**profile, rule=rule)
    assert sum(out.owner_pays) - sum(out.station_receives) == out.surplus
    assert out.paid_in - out.paid_out == out.surplus
    # weak budget balance: owners pay at least what stations receive
    assert sum(out.owner_pays) >= sum(out.station_receives)


@settings(max_examples=400, deadline=None)
@given(st.one_of(profiles(), huge_profiles()))
def test_nobody_owes_more_than_the_reveal_time_deposit_bound(profile: dict[str, Any]) -> None:
    # SPEC section 5 step 4: owner deposit >= max_m b + max_m c, station deposit >= max_m k.
    out = settle(**profile)
    shares = [cost_shares(c, profile["owner_weights"]) for c in profile["budgets"]]
    for i, row in enumerate(profile["owner_values"]):
        bound = max(row) + max(s[i] for s in shares)
        assert out.owner_pays[i] <= bound
    for j, row in enumerate(profile["station_costs"]):
        assert -out.station_receives[j] <= max(row)


@settings(max_examples=300, deadline=None)
@given(profiles())
def test_the_winner_maximizes_reported_welfare(profile: dict[str, Any]) -> None:
    out = settle(**profile)
    best = max(out.welfare)
    if best > 0:
        assert out.winner == out.welfare.index(best)
    else:
        assert out.winner is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(profiles(), profiles(max_amount=10**15, max_weight=1000)),
    st.sampled_from(["clarke", "paper"]),
    st.sampled_from(["budget", "midpoint", "uniform"]),
    st.sampled_from([0, 0, 7, 10**6]),
)
def test_numpy_path_gives_the_same_outcome_as_the_exact_path(
    profile: dict[str, Any], rule: str, policy: str, subsidy: int
) -> None:
    exact = settle(**profile, rule=rule, budget_policy=policy, seed=3, subsidy=subsidy)
    arrays = {k: np.array(v, dtype=np.int64) for k, v in profile.items()}
    assert settle_fast(**arrays, rule=rule, budget_policy=policy, seed=3, subsidy=subsidy) == exact


@settings(max_examples=300, deadline=None)
@given(tied_profiles(), st.sampled_from(["clarke", "paper"]), st.sampled_from([0, 1, 5]))
def test_on_tied_proposals_the_numpy_path_picks_the_same_winner_and_charges_the_same(
    profile: dict[str, Any], rule: str, subsidy: int
) -> None:
    exact = settle(**profile, rule=rule, subsidy=subsidy)
    arrays = {k: np.array(v, dtype=np.int64) for k, v in profile.items()}
    assert settle_fast(**arrays, rule=rule, subsidy=subsidy) == exact


@settings(max_examples=300, deadline=None)
@given(tied_profiles())
def test_on_tied_proposals_the_winner_is_the_lowest_index_of_the_best_and_none_at_zero(profile: dict[str, Any]) -> None:
    out = settle(**profile)
    best = max(out.welfare)
    assert out.winner == (out.welfare.index(best) if best > 0 else None)


@settings(max_examples=1000, deadline=None)
@given(profile_with_lie(), st.integers(0, 300))
def test_a_recycled_subsidy_keeps_the_mechanism_truthful_and_the_books_exact(case: tuple, subsidy: int) -> None:
    profile, side, index, lie = case
    truth = (profile["owner_values"] if side == "owner" else profile["station_costs"])[index]
    out = settle(**profile, subsidy=subsidy)
    lying = settle(**_with_claim(profile, side, index, lie), subsidy=subsidy)
    assert utility(out, side, index, truth) >= utility(lying, side, index, truth)
    used = 0 if out.winner is None else min(subsidy, out.budgets[out.winner])
    # the pool pays the subsidy in and gets the surplus back; nothing else moves
    assert sum(out.owner_pays) + used - sum(out.station_receives) == out.surplus
    assert out.dust >= 0


def _search_profitable_lie(rule: str, policy: str, trials: int = 20000) -> dict[str, Any] | None:
    """Seeded search for a lie that beats the truth; returns the witness or None."""
    rng = random.Random(2024)
    for _ in range(trials):
        profile = random_profile(rng, rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3))
        side = rng.choice(["owner", "station"])
        rows = profile["owner_values" if side == "owner" else "station_costs"]
        index = rng.randrange(len(rows))
        truth = rows[index]
        lie = [rng.randint(0, 150) for _ in truth]
        kw = dict(rule=rule, budget_policy=policy, seed=1)
        honest = utility(settle(**profile, **kw), side, index, truth)
        lying = utility(settle(**_with_claim(profile, side, index, lie), **kw), side, index, truth)
        if lying > honest:
            return dict(profile=profile, rule=rule, budget_policy=policy, side=side, index=index,
                        lie=lie, truthful_utility=honest, lie_utility=lying)
    return None


def test_the_papers_one_sided_tax_lets_a_liar_win() -> None:
    witness = _search_profitable_lie("paper", "budget")
    assert witness is not None
    print("profitable lie under rule 'paper':", witness)
    assert witness["lie_utility"] > witness["truthful_utility"]


def test_the_midpoint_budget_lets_a_liar_win() -> None:
    witness = _search_profitable_lie("clarke", "midpoint")
    assert witness is not None
    print("profitable lie under budget policy 'midpoint':", witness)
    assert witness["lie_utility"] > witness["truthful_utility"]
