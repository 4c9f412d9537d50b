"""Weak budget balance and solvency for every number of participants and of proposals.

Truthfulness is lifted to every ``N`` and ``M`` in ``verification.induction``; this module
does the same for the two money properties (rule ``clarke``, policy ``budget``, with the
recycled subsidy free), from the same fold invariants and from ``mechanism``'s own
formulas (``tax_formula``, ``owner_payment``, ``station_receipt``, ``cost_shares``,
``reward_shares``, ``owner_budget``, ``subsidy_used``, ``owner_deposit_bound``,
``station_deposit_bound``), run on z3 terms.

**Budget balance**, ``sum_i pays_i + pool_pays >= sum_j receives_j``. Let ``C*`` be the
winner's budget (0 at ``none``, where every share and the pool's payment are 0 too) and
``B* = owner_budget(C*, subsidy)``. z3 proves, every symbol free:

1. *tax >= 0 at any M*: from the choice invariant of the welfare and the max invariant of
   ``A = S_-p`` at a free ``M``, ``tax_formula(top, A(x*)) >= 0``; ``A`` free, so for every
   participant of every profile;
2. *one owner's share*: ``W * c >= B* * w`` for the code's ``cost_shares`` of an owner of
   weight ``w`` among total weight ``W = w + rest`` (``rest >= 0`` the others' weights),
   every ``C*`` and subsidy; *one station's*: ``U * r <= C* * u`` likewise;
3. *the sums over participants*, by induction on the number ``k`` of participants summed:
   ``W * (owners' payments so far) >= B* * (their weights so far)`` is preserved by adding
   ``owner_payment(c, t)`` of one more owner with 1 and 2; ``U * (stations' receipts so
   far) <= C* * (their weights so far)`` likewise with ``station_receipt``;
4. *the end*: with all ``N`` summed (weights so far ``= W``, resp. ``U``), owners pay at
   least ``B*`` and stations receive at most ``C*``; with ``pool_pays = subsidy_used(C*,
   subsidy)``, ``owners + pool >= stations``.

**Solvency**, per participant ``p`` against the others' welfare ``A`` (free: every ``N``),
at a free ``M``: from the choice invariant of ``S = A + n_p``, the max invariant of ``A``,
and ``max`` invariants of ``p``'s claims and shares (the maxima in its deposit bound), the
code's payment ``owner_payment(c(x*), tax)`` is at most the code's
``owner_deposit_bound``; a station's ``-station_receipt(r(x*), tax)`` at most
``station_deposit_bound``. That ``p``'s transfer depends on the others only through ``A``
is the abstraction row of ``verification.induction`` (it compares transfers too).

Every step with hypotheses is paired with a satisfiability check of them.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from mechanism.clarke import tax_formula
from mechanism.settle import owner_payment, station_receipt
from mechanism.shares import cost_shares, owner_budget, owner_deposit_bound, reward_shares, station_deposit_bound, subsidy_used
from verification import encoder as enc
from verification.induction import Fn, _at, _combine, _function, _guarded, choice_invariant, max_invariant
from verification.results import CheckResult
from verification.solver import Solved, consistency, solve
from verification.z3ops import Z3


def _step(name: str, hyp: list[z3.BoolRef], goal: z3.BoolRef, timeout_s: float) -> dict[str, Solved]:
    return {name: solve(hyp, z3.Not(goal), timeout_s=timeout_s), f"{name} hypotheses consistent": consistency(hyp, timeout_s=timeout_s)}


def tax_nonnegative(timeout_s: float) -> dict[str, Solved]:
    """Obligation 1: at a free ``M`` the code's tax is never negative."""
    welfare, others = _function("S"), _function("A")
    n, best, win, top = z3.Ints("M best win top")
    hyp = [n >= 0, choice_invariant(welfare, n, best, win), max_invariant(others, n, top)]
    return _step("tax >= 0, any M", hyp, tax_formula(top, _at(others, win)) >= 0, timeout_s)


def share_lemmas(timeout_s: float) -> dict[str, Solved]:
    """Obligation 2: one participant's share, any weights, budget and subsidy (nonlinear)."""
    budget, subsidy, w, rest, u, urest = z3.Ints("Cstar subsidy w rest u urest")
    b_star = owner_budget(budget, subsidy, Z3)
    c = cost_shares(b_star, [w, rest], Z3)[0]
    r = reward_shares(budget, [u, urest], Z3)[0]
    dom = [budget >= 0, subsidy >= 0, w >= 1, rest >= 0, u >= 1, urest >= 0]
    return {
        **_step("owner share covers its part", dom, (w + rest) * c >= b_star * w, timeout_s),
        **_step("station share within its part", dom, (u + urest) * r <= budget * u, timeout_s),
    }


def sum_steps(timeout_s: float) -> dict[str, Solved]:
    """Obligations 3 and 4: the sums over any number of owners and stations."""
    W, U, b_star, c_star, subsidy = z3.Ints("W U Bstar Cstar subsidy")
    paid, ws, c, w, t = z3.Ints("paid ws c w t_o")
    got, us, r, u, t2 = z3.Ints("got us r u t_s")
    owner_hyp = [W > 0, b_star >= 0, W * paid >= b_star * ws, W * c >= b_star * w, t >= 0]
    station_hyp = [U > 0, c_star >= 0, U * got <= c_star * us, U * r <= c_star * u, t2 >= 0]
    end_dom = [c_star >= 0, subsidy >= 0, W > 0, U > 0]
    owners_total, stations_total = z3.Ints("owners_total stations_total")
    b_code = owner_budget(c_star, subsidy, Z3)
    end_hyp = [*end_dom, W * owners_total >= b_code * W, U * stations_total <= c_star * U]
    return {
        "owner sum base": solve([], z3.Not(W * 0 >= b_star * 0), timeout_s=timeout_s),
        **_step("owner sum step", owner_hyp, W * (paid + owner_payment(c, t)) >= b_star * (ws + w), timeout_s),
        "station sum base": solve([], z3.Not(U * 0 <= c_star * 0), timeout_s=timeout_s),
        **_step("station sum step", station_hyp, U * (got + station_receipt(r, t2)) <= c_star * (us + u), timeout_s),
        **_step("owners + pool cover stations", end_hyp, owners_total + subsidy_used(c_star, subsidy, Z3) >= stations_total, timeout_s),
    }


def _list_max(values: Fn, n: z3.ArithRef, top: z3.ArithRef) -> z3.BoolRef:
    """``top = max(values(0..n-1))`` for ``n >= 1`` (the builtin ``max`` of a deposit bound)."""
    m = z3.Int("m_list")
    return z3.And(
        z3.ForAll([m], z3.Implies(z3.And(0 <= m, m < n), values(m) <= top)),
        z3.Exists([m], z3.And(0 <= m, m < n, values(m) == top)),
    )


def _tokens(tops: dict[str, z3.ArithRef]) -> Callable[[list[str]], z3.ArithRef]:
    """A ``maximum`` for the code's deposit-bound formulas: each list is one token naming
    the maximum of a whole per-proposal function."""
    return lambda xs: tops[xs[0]]


def solvency_step(side: str, timeout_s: float) -> dict[str, Solved]:
    """At a free ``M >= 1``, participant ``p`` never owes more than the code's deposit bound."""
    others, claim, share = _function("A"), _function("claim"), _function("share")
    welfare: Fn = lambda m: others(m) + enc.net_value(side, claim(m), share(m))  # noqa: E731
    n, best, win, top, top_claim, top_share = z3.Ints("M best win top top_claim top_share")
    m = z3.Int("m_dom")
    hyp = [
        n >= 1,
        z3.ForAll([m], z3.And(claim(m) >= 0, share(m) >= 0)),
        choice_invariant(welfare, n, best, win),
        max_invariant(others, n, top),
        _list_max(claim, n, top_claim),
        _list_max(share, n, top_share),
    ]
    tax = tax_formula(top, _at(others, win))
    maximum = _tokens({"claims": top_claim, "shares": top_share})
    if side == "owner":
        goal = owner_payment(_at(share, win), tax) <= owner_deposit_bound(["claims"], ["shares"], maximum)
    else:
        goal = -station_receipt(_at(share, win), tax) <= station_deposit_bound(["claims"], maximum)
    return _step(f"{side} owes at most its deposit, any M", hyp, goal, timeout_s)


def check_budget_balance_every_n_m(timeout_s: float = 60.0) -> CheckResult:
    """Row: weak budget balance (with the subsidy) for every ``N`` and ``M``."""
    answers = {
        **_guarded(lambda: tax_nonnegative(timeout_s), "tax"),
        **_guarded(lambda: share_lemmas(timeout_s), "shares"),
        **_guarded(lambda: sum_steps(timeout_s), "sums"),
    }
    return _combine("weak budget balance", "all", "any N, any M, any weights, budgets and subsidy (induction)", answers)


def check_solvency_every_n_m(timeout_s: float = 60.0) -> CheckResult:
    """Row: solvency with SPEC section 5's deposits for every ``N`` and ``M``, both sides."""
    answers = {
        **_guarded(lambda: solvency_step("owner", timeout_s), "owner"),
        **_guarded(lambda: solvency_step("station", timeout_s), "station"),
    }
    return _combine("solvency", "all", "any N, any M, any weights, budgets and subsidy (induction; S_-p free)", answers)
