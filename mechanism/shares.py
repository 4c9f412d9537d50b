"""Cost and reward shares, and the budget policies (SPEC section 2 and section 3's last part).

Shares depend only on the registered weights and the budget, never on a participant's own
claim under the default ``budget`` policy: that independence is what makes the Clarke tax
truthful. Rounding always favours the contract (owners round up, stations round down); the
difference is the dust that goes to the recycle pool.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any


def ceil_div(a: int, b: int) -> int:
    """Exact ceiling of ``a / b`` for ``a >= 0, b > 0`` (no floats)."""
    return -(-a // b)


def cost_shares(budget: int, owner_weights: Sequence[int]) -> list[int]:
    """Owner cost shares ``c[i] = ceil(C * w_i / W)`` of one proposal's budget ``C``."""
    total = sum(owner_weights)
    return [ceil_div(budget * w, total) for w in owner_weights]


def reward_shares(budget: int, station_weights: Sequence[int]) -> list[int]:
    """Station reward shares ``r[j] = floor(C * u_j / U)`` of one proposal's budget ``C``."""
    total = sum(station_weights)
    return [budget * u // total for u in station_weights]


def dust(budget: int, owner_weights: Sequence[int], station_weights: Sequence[int]) -> int:
    """``D = sum_i c[i] - sum_j r[j] >= 0``: what rounding leaves to the contract."""
    return sum(cost_shares(budget, owner_weights)) - sum(reward_shares(budget, station_weights))


def effective_budgets(
    policy: str,
    budgets: Sequence[int] | None,
    owner_values: Sequence[Sequence[int]],
    station_costs: Sequence[Sequence[int]],
    n_proposals: int,
    seed: int | None,
) -> list[int]:
    """The budget ``C_m`` of every proposal under a budget policy.

    ``budget`` takes the proposals' own budgets. ``midpoint`` and ``uniform`` are the paper's
    policies (section III, "within the interval of the sum of the cost and the bid"): they are
    computed from the claims, which makes shares depend on claims (SPEC section 3).
    """
    if policy == "budget":
        assert budgets is not None
        return list(budgets)
    lows = [sum(row[m] for row in station_costs) for m in range(n_proposals)]
    highs = [sum(row[m] for row in owner_values) for m in range(n_proposals)]
    if policy == "midpoint":
        return [(lo + hi) // 2 for lo, hi in zip(lows, highs)]
    rng = random.Random(seed)
    return [rng.randint(min(lo, hi), max(lo, hi)) for lo, hi in zip(lows, highs)]


def owner_deposit_bound(claims: Sequence[Any], shares: Sequence[Any], maximum: Callable[[list[Any]], Any] = max) -> Any:
    """SPEC section 5 step 4: ``max_m b[i][m] + max_m c[i][m]``, the least deposit that lets an
    owner reveal ``claims`` when its cost shares are ``shares``; it covers the worst tax.

    ``maximum`` lets the z3 encoding apply the same bound to symbolic terms.
    """
    return maximum(list(claims)) + maximum(list(shares))


def station_deposit_bound(claims: Sequence[Any], maximum: Callable[[list[Any]], Any] = max) -> Any:
    """SPEC section 5 step 4: ``max_m k[j][m]``, the least deposit that lets a station reveal."""
    return maximum(list(claims))


def least_deposit_per_weight(budgets: Sequence[int], owner_weights: Sequence[int]) -> int:
    """The smallest deposit per unit of weight ``d`` under which every budget is allowed:
    the contract caps budgets at ``W * d`` (SPEC section 5 step 2), so ``ceil(max C / W)``,
    and at least 1."""
    return max(1, ceil_div(max(budgets, default=0), sum(owner_weights)))


def deposit_bounds(
    budgets: Sequence[int],
    owner_weights: Sequence[int],
    owner_values: Sequence[Sequence[int]],
    station_costs: Sequence[Sequence[int]],
    *,
    subsidy: int = 0,
    deposit_per_weight: int = 0,
) -> tuple[list[int], list[int]]:
    """The least deposit of every owner and every station (SPEC section 5 step 4), with the
    owners' cost shares lowered by a recycled ``subsidy`` as the contract lowers them; an
    owner also deposits at least ``weight * deposit_per_weight`` (step 1)."""
    shares = [cost_shares(C - min(subsidy, C), owner_weights) for C in budgets]
    owners = [max(owner_deposit_bound(row, [s[i] for s in shares]), owner_weights[i] * deposit_per_weight)
              for i, row in enumerate(owner_values)]
    stations = [station_deposit_bound(row) for row in station_costs]
    return owners, stations
