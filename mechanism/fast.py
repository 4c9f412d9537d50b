"""Vectorized settlement for large simulations (numpy, int64).

``settle_fast`` computes exactly what ``settle`` computes, for profiles given as numpy
integer arrays, in O(N*M) array operations instead of Python loops. Amounts must then fit
int64 with room for every sum taken: amounts in Gwei do (a 10,000-participant round of
100-Gwei claims is ~1e15, far below 9.2e18). Inputs that could overflow are refused with a
``ValueError`` rather than silently wrapped; use the exact ``settle`` for those.
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt

from mechanism.settle import Outcome
from mechanism.validate import BUDGET_POLICIES, RULES, check_choice

INT64_HEADROOM = 2**62
"""Every intermediate value is kept below this, so no int64 operation can wrap."""

IntArray = npt.NDArray[np.int64]


def _as_int_array(field: str, data: object, ndim: int) -> IntArray:
    arr = np.asarray(data)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{field}: expected an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{field}: expected a {ndim}-d array (ragged or wrong shape), got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{field}: negative amount {int(arr.min())}")
    if arr.size and int(arr.max()) >= INT64_HEADROOM:
        raise ValueError(f"{field}: amount {int(arr.max())} too large for the int64 path; use settle()")
    return arr.astype(np.int64, copy=False)


def _check_headroom(field: str, bound: int) -> None:
    # Python ints: the bound itself must not wrap while it is being checked.
    if bound >= INT64_HEADROOM:
        raise ValueError(f"{field}: sums of these amounts could overflow int64; use the exact settle()")


def settle_fast(
    budgets: object,
    owner_weights: object,
    station_weights: object,
    owner_values: object,
    station_costs: object,
    rule: str = "clarke",
    budget_policy: str = "budget",
    seed: int | None = None,
    *,
    subsidy: int = 0,
) -> Outcome:
    """Same outcome as ``mechanism.settle`` on int64 arrays; arguments as there.

    ``owner_values`` has shape ``(n_owners, M)``, ``station_costs`` ``(n_stations, M)``.
    """
    rule = check_choice("rule", rule, RULES)
    budget_policy = check_choice("budget_policy", budget_policy, BUDGET_POLICIES)
    w = _as_int_array("owner_weights", owner_weights, 1)
    u = _as_int_array("station_weights", station_weights, 1)
    b = _as_int_array("owner_values", owner_values, 2)
    k = _as_int_array("station_costs", station_costs, 2)
    if w.size == 0:
        raise ValueError("owner_weights: no owners; at least one owner must take part")
    if u.size == 0:
        raise ValueError("station_weights: no stations; at least one station must take part")
    if w.min() < 1:
        raise ValueError("owner_weights: every weight must be >= 1")
    if u.min() < 1:
        raise ValueError("station_weights: every weight must be >= 1")
    n_props = b.shape[1]
    if n_props == 0:
        raise ValueError("budgets: no proposals; at least one proposal is needed")
    if b.shape[0] != w.size:
        raise ValueError(f"owner_values: expected {w.size} rows, got {b.shape[0]}")
    if k.shape != (u.size, n_props):
        raise ValueError(f"station_costs: expected shape {(u.size, n_props)}, got {k.shape}")
    max_b, max_k = int(b.max()), int(k.max())
    _check_headroom("owner_values", b.shape[0] * max_b + k.shape[0] * max_k)

    if budget_policy == "budget":
        C = _as_int_array("budgets", budgets, 1)
        if C.size != n_props:
            raise ValueError(f"budgets: expected {n_props} entries, got {C.size}")
    else:
        lows, highs = k.sum(axis=0).tolist(), b.sum(axis=0).tolist()
        if budget_policy == "midpoint":
            C = np.array([(lo + hi) // 2 for lo, hi in zip(lows, highs)], dtype=np.int64)
        else:
            if seed is None:
                raise ValueError("seed: budget_policy 'uniform' needs a seed")
            rng = random.Random(seed)
            C = np.array([rng.randint(min(lo, hi), max(lo, hi)) for lo, hi in zip(lows, highs)], dtype=np.int64)
    max_c = int(C.max())
    _check_headroom("budgets", max_c * max(int(w.max()), int(u.max())))
    # Every sum below is of at most N terms each below max_b + max_c (or max_k + max_c).
    _check_headroom("budgets", (w.size + u.size) * (max_b + max_k + 2 * max_c))

    if isinstance(subsidy, bool) or not isinstance(subsidy, int) or not 0 <= subsidy:
        raise ValueError(f"subsidy: expected a non-negative integer, got {subsidy!r}")
    W, U = int(w.sum()), int(u.sum())
    owner_budget = C - np.minimum(C, subsidy)  # the pool's subsidy lowers owners' shares only
    c = -((-(owner_budget[None, :] * w[:, None])) // W)  # (nO, M): ceil((C-s)*w/W)
    r = (C[None, :] * u[:, None]) // U  # (nB, M): floor(C*u/U)
    welfare = b.sum(axis=0) - k.sum(axis=0)  # (M,)
    top = int(np.argmax(welfare))  # first index of the maximum: ties to the lowest
    winner = top if int(welfare[top]) > 0 else None

    owner_net = b - c
    station_net = r - k
    if rule == "clarke":
        owner_total = station_total = welfare
    else:
        owner_total, station_total = owner_net.sum(axis=0), station_net.sum(axis=0)
    owner_tax = _taxes(owner_total, owner_net, winner)
    station_tax = _taxes(station_total, station_net, winner)

    if winner is None:
        owner_share = np.zeros(w.size, dtype=np.int64)
        station_share = np.zeros(u.size, dtype=np.int64)
    else:
        owner_share, station_share = c[:, winner], r[:, winner]
    used = 0 if winner is None else min(subsidy, int(C[winner]))
    d = int(owner_share.sum()) + used - int(station_share.sum())
    return Outcome(
        winner=winner,
        welfare=welfare.tolist(),
        owner_tax=owner_tax.tolist(),
        station_tax=station_tax.tolist(),
        owner_pays=(owner_share + owner_tax).tolist(),
        station_receives=(station_share - station_tax).tolist(),
        surplus=int(owner_tax.sum()) + int(station_tax.sum()) + d,
        budgets=C.tolist(),
        owner_share=owner_share.tolist(),
        station_share=station_share.tolist(),
        dust=d,
        rule=rule,
        budget_policy=budget_policy,
    )


def _taxes(total: IntArray, net: IntArray, winner: int | None) -> IntArray:
    """Clarke tax of every row of ``net``: ``max(0, max_x S_-p(x)) - S_-p(x*)``."""
    others = total[None, :] - net  # (N, M): S_-p(x)
    best = np.maximum(others.max(axis=1), 0)
    if winner is None:
        return best
    return best - others[:, winner]
