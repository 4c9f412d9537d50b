"""Hypothesis strategies and seeded generators of mechanism profiles, shared by the tests.

A profile is the keyword arguments of ``mechanism.settle``. Sizes are kept small so that
thousands of examples run in seconds; amounts range from tiny (to hit rounding and ties)
to the 2**96-1 cap (to hit overflow paths).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from mechanism import MAX_AMOUNT


@st.composite
def profiles(
    draw: st.DrawFn,
    *,
    max_owners: int = 4,
    max_stations: int = 4,
    max_proposals: int = 4,
    max_amount: int = 200,
    max_weight: int = 5,
) -> dict[str, Any]:
    """A random profile; amounts up to ``max_amount`` (use MAX_AMOUNT for the full range)."""
    n_o = draw(st.integers(1, max_owners))
    n_s = draw(st.integers(1, max_stations))
    n_m = draw(st.integers(1, max_proposals))
    amount = st.integers(0, max_amount)
    return {
        "budgets": draw(st.lists(amount, min_size=n_m, max_size=n_m)),
        "owner_weights": draw(st.lists(st.integers(1, max_weight), min_size=n_o, max_size=n_o)),
        "station_weights": draw(st.lists(st.integers(1, max_weight), min_size=n_s, max_size=n_s)),
        "owner_values": draw(st.lists(st.lists(amount, min_size=n_m, max_size=n_m), min_size=n_o, max_size=n_o)),
        "station_costs": draw(st.lists(st.lists(amount, min_size=n_m, max_size=n_m), min_size=n_s, max_size=n_s)),
    }


def huge_profiles() -> st.SearchStrategy[dict[str, Any]]:
    """Profiles whose amounts reach the 2**96-1 cap."""
    return profiles(max_amount=MAX_AMOUNT, max_weight=MAX_AMOUNT)


def random_profile(rng: random.Random, n_owners: int, n_stations: int, n_proposals: int, max_amount: int = 100) -> dict[str, Any]:
    """A seeded random profile (for searches that must find the same witness every run)."""
    amt = lambda: rng.randint(0, max_amount)  # noqa: E731
    return {
        "budgets": [amt() for _ in range(n_proposals)],
        "owner_weights": [rng.randint(1, 3) for _ in range(n_owners)],
        "station_weights": [rng.randint(1, 3) for _ in range(n_stations)],
        "owner_values": [[amt() for _ in range(n_proposals)] for _ in range(n_owners)],
        "station_costs": [[amt() for _ in range(n_proposals)] for _ in range(n_stations)],
    }


@st.composite
def tied_profiles(draw: st.DrawFn, *, max_participants: int = 3, max_proposals: int = 4) -> dict[str, Any]:
    """A profile in which ties decide the outcome: proposals copied from one another (equal
    welfare, equal budgets) and tiny claims, so that a welfare of exactly 0 (a tie with
    ``none``) and equal maxima are the common case, not a rare one."""
    n_o = draw(st.integers(1, max_participants))
    n_s = draw(st.integers(1, max_participants))
    n_m = draw(st.integers(2, max_proposals))
    tiny = st.integers(0, 3)
    base = {
        "budgets": [draw(tiny) for _ in range(n_m)],
        "owner_values": [[draw(tiny) for _ in range(n_m)] for _ in range(n_o)],
        "station_costs": [[draw(tiny) for _ in range(n_m)] for _ in range(n_s)],
    }
    # every proposal is a copy of an earlier one or of itself: columns repeat
    source = [0] + [draw(st.integers(0, m)) for m in range(1, n_m)]
    column = lambda rows: [[row[source[m]] for m in range(n_m)] for row in rows]  # noqa: E731
    return {
        "budgets": [base["budgets"][source[m]] for m in range(n_m)],
        "owner_weights": draw(st.lists(st.integers(1, 3), min_size=n_o, max_size=n_o)),
        "station_weights": draw(st.lists(st.integers(1, 3), min_size=n_s, max_size=n_s)),
        "owner_values": column(base["owner_values"]),
        "station_costs": column(base["station_costs"]),
    }
