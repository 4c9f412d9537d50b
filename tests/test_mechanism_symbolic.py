"""The mechanism's property tests run symbolically: hypothesis-crosshair explores the
integer branches of ``settle`` (ties, a zero best welfare, rounding, who is pivotal) with
an SMT solver instead of random draws. Slow (``-m slow``); sizes are fixed and small so that
each path is a small formula."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mechanism import settle, utility

pytest.importorskip("hypothesis_crosshair_provider")

pytestmark = pytest.mark.slow

SYMBOLIC = settings(backend="crosshair", max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

amount = st.integers(0, 2**96 - 1)


@st.composite
def two_by_two(draw: st.DrawFn) -> dict[str, Any]:
    """Two owners, two stations, two proposals, weights 1 and 2: every amount symbolic."""
    row = lambda: [draw(amount), draw(amount)]  # noqa: E731
    return {
        "budgets": row(),
        "owner_weights": [1, 2],
        "station_weights": [2, 3],
        "owner_values": [row(), row()],
        "station_costs": [row(), row()],
    }


@SYMBOLIC
@given(two_by_two(), st.integers(0, 2**96 - 1), st.lists(amount, min_size=2, max_size=2), st.booleans())
def test_no_lie_beats_the_truth(profile: dict[str, Any], subsidy: int, lie: list[int], owner: bool) -> None:
    side, key = ("owner", "owner_values") if owner else ("station", "station_costs")
    truth = profile[key][0]
    lied = {**profile, key: [lie, profile[key][1]]}
    honest = utility(settle(**profile, subsidy=subsidy), side, 0, truth)
    assert honest >= utility(settle(**lied, subsidy=subsidy), side, 0, truth)


@SYMBOLIC
@given(two_by_two(), st.integers(0, 2**96 - 1))
def test_the_books_balance_and_the_pool_pays_at_most_the_subsidy(profile: dict[str, Any], subsidy: int) -> None:
    out = settle(**profile, subsidy=subsidy)
    pool = out.dust - sum(out.owner_share) + sum(out.station_share)
    assert 0 <= pool <= subsidy
    assert sum(out.owner_pays) + pool == sum(out.station_receives) + out.surplus
    assert out.surplus >= 0


@SYMBOLIC
@given(two_by_two())
def test_the_winner_is_the_lowest_index_of_the_best_welfare_or_none_at_zero(profile: dict[str, Any]) -> None:
    out = settle(**profile)
    best = max(out.welfare)
    assert out.winner == (out.welfare.index(best) if best > 0 else None)
