"""Cost and reward shares, and the budget policies (SPEC section 2 and section 3's last part).

Shares depend only on the registered weights and the budget, never on a participant's own
claim under the default ``budget`` policy: that independence is what makes the Clarke tax
truthful. Rounding always favours the contract (owners round up, stations round down); the
difference is the dust that goes to the recycle pool.

Every function takes an ``ops`` argument (default: exact ints, :data:`mechanism.ops.INT`) so
that the z3 encoding runs this very code on symbols (``verification.z3ops``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from mechanism.ops import INT, Ops


def ceil_div(a: int, b: int) -> int:
    """Exact ceiling of ``a / b`` for ``a >= 0, b > 0`` (no floats)."""
    return -(-a // b)


def cost_shares(budget: Any, owner_weights: Sequence[int], ops: Ops = INT) -> list[Any]:
    """Owner cost shares ``c[i] = ceil(C * w_i / W)`` of one proposal's budget ``C``."""
    total = sum(owner_weights)
    # ceil(a / d) = -floor(-a / d): rounds up, in the contract's favour (SPEC section 2).
    return [-ops.floor_div(-(budget * w), total) for w in owner_weights]


def reward_shares(budget: Any, station_weights: Sequence[int], ops: Ops = INT) -> list[Any]:
    """Station reward shares ``r[j] = floor(C * u_j / U)`` of one proposal's budget ``C``."""
    total = sum(station_weights)
    return [ops.floor_div(budget * u, total) for u in station_weights]


BPS = 10_000
"""100 % in basis points: the station bonus fraction ``beta`` is ``bonus_bps / BPS`` (SPEC section 9)."""


def bonus_pool(budget: Any, bonus_bps: Any, ops: Ops = INT) -> Any:
    """The bonus part ``B = floor(C * bonus_bps / 10000)`` of a budget (SPEC section 9): what
    the stations share by their reported contributions; rounded down, in the contract's favour."""
    return ops.floor_div(budget * bonus_bps, BPS)


def weight_parts(budget: Any, pool: Any, station_weights: Sequence[int], ops: Ops = INT) -> list[Any]:
    """The weight part of every station's reward: SPEC section 2's share rule applied to the
    rest of the budget, ``floor((C - B) * u_j / U)``."""
    return reward_shares(budget - pool, station_weights, ops)


def bonus_shares(pool: Any, contributions: Sequence[Any], station_weights: Sequence[int], ops: Ops = INT) -> list[Any]:
    """Every station's bonus ``floor(B * c_j / sum(c))``; by registered weight,
    ``floor(B * u_j / U)``, when the contributions sum to 0 (SPEC section 9).

    The fallback is a ``select`` of the numerator's factor and of the divisor (never a
    division by 0), so that the z3 encoding runs this very function.
    """
    reported = ops.total(list(contributions))
    none_reported = reported == 0
    by_weight = sum(station_weights)
    return [
        ops.floor_div(pool * ops.select(none_reported, u, c), ops.select(none_reported, by_weight, reported))
        for c, u in zip(contributions, station_weights, strict=True)
    ]


def station_bonus_hold(max_budget: Any, bonus_bps: Any, weight: Any, total_weight: Any, ops: Ops = INT) -> Any:
    """What a station's deposit must cover beyond its largest cost claim when a bonus is on:
    ``ceil(floor(max C * bonus_bps / 10000) * u_j / U)``, at least the part of its nominal share
    ``r_j - floor((C - B) * u_j / U)`` that goes into the bonus pool at any proposal (its bonus
    may be 0). 0 without a bonus, so the bound of SPEC section 5 step 4 is unchanged then."""
    return -ops.floor_div(-(bonus_pool(max_budget, bonus_bps, ops) * weight), total_weight)


def subsidy_used(budget: Any, subsidy: Any, ops: Ops = INT) -> Any:
    """What the recycle pool pays towards a proposal's budget: ``min(subsidy, C)``."""
    return ops.minimum(subsidy, budget)


def owner_budget(budget: Any, subsidy: Any, ops: Ops = INT) -> Any:
    """The part of ``C`` the owners share once the pool's subsidy is taken off: ``C - min(s, C)``."""
    return budget - subsidy_used(budget, subsidy, ops)


def net_values(side: str, claims: Sequence[Any], shares: Sequence[Any]) -> list[Any]:
    """``n_p(m)`` for every proposal (SPEC section 2): owner ``b - c``, station ``r - k``."""
    if side == "owner":
        return [b - c for b, c in zip(claims, shares)]
    if side == "station":
        return [r - k for k, r in zip(claims, shares)]
    raise ValueError(f"side: unknown value {side!r}, expected owner or station")


def dust(budget: int, owner_weights: Sequence[int], station_weights: Sequence[int]) -> int:
    """``D = sum_i c[i] - sum_j r[j] >= 0``: what rounding leaves to the contract."""
    return sum(cost_shares(budget, owner_weights)) - sum(reward_shares(budget, station_weights))


def policy_budgets(
    policy: str,
    budgets: Sequence[Any] | None,
    owner_values: Sequence[Sequence[Any]],
    station_costs: Sequence[Sequence[Any]],
    n_proposals: int,
    draw: Callable[[Any, Any], Any],
    ops: Ops = INT,
) -> list[Any]:
    """``C_m`` under a budget policy, with ``draw(lo, hi)`` the ``uniform`` draw in ``[lo, hi]``.

    The z3 encoding passes a ``draw`` that makes a fresh symbol constrained to the interval;
    ``effective_budgets`` passes the seeded ``random.Random``.
    """
    if policy == "budget":
        assert budgets is not None
        return list(budgets)
    lows = [ops.total([row[m] for row in station_costs]) for m in range(n_proposals)]
    highs = [ops.total([row[m] for row in owner_values]) for m in range(n_proposals)]
    if policy == "midpoint":
        return [ops.floor_div(lo + hi, 2) for lo, hi in zip(lows, highs)]
    return [draw(ops.minimum(lo, hi), ops.select(lo <= hi, hi, lo)) for lo, hi in zip(lows, highs)]


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
    rng = random.Random(seed)
    return policy_budgets(policy, budgets, owner_values, station_costs, n_proposals, rng.randint)


def owner_deposit_bound(claims: Sequence[Any], shares: Sequence[Any], maximum: Callable[[list[Any]], Any] = max) -> Any:
    """SPEC section 5 step 4: ``max_m b[i][m] + max_m c[i][m]``, the least deposit that lets an
    owner reveal ``claims`` when its cost shares are ``shares``; it covers the worst tax.

    ``maximum`` lets the z3 encoding apply the same bound to symbolic terms.
    """
    return maximum(list(claims)) + maximum(list(shares))


def station_deposit_bound(claims: Sequence[Any], maximum: Callable[[list[Any]], Any] = max, hold: Any = 0) -> Any:
    """SPEC section 5 step 4: ``max_m k[j][m]``, the least deposit that lets a station reveal,
    plus ``hold`` (:func:`station_bonus_hold`, 0 without a bonus)."""
    return maximum(list(claims)) + hold


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
    bonus_bps: int = 0,
    station_weights: Sequence[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The least deposit of every owner and every station (SPEC section 5 step 4), with the
    owners' cost shares lowered by a recycled ``subsidy`` as the contract lowers them; an
    owner also deposits at least ``weight * deposit_per_weight`` (step 1). With a bonus
    (``bonus_bps > 0``, which needs ``station_weights``) a station also covers
    :func:`station_bonus_hold`."""
    shares = [cost_shares(owner_budget(C, subsidy), owner_weights) for C in budgets]
    owners = [max(owner_deposit_bound(row, [s[i] for s in shares]), owner_weights[i] * deposit_per_weight)
              for i, row in enumerate(owner_values)]
    if bonus_bps and station_weights is None:
        raise ValueError("station_weights: a bonus needs the stations' weights for their deposit bounds")
    top = max(budgets, default=0)
    holds = ([station_bonus_hold(top, bonus_bps, u, sum(station_weights)) for u in station_weights]
             if bonus_bps and station_weights is not None else [0] * len(station_costs))
    stations = [station_deposit_bound(row, max, h) for row, h in zip(station_costs, holds, strict=True)]
    return owners, stations
