"""The encoding: ``mechanism``'s own core run on z3 terms (the layer below every check).

There is no second description of the mechanism here. :func:`encode_settle` calls
``mechanism.policy_budgets`` and ``mechanism.settle_core`` with ``ops=verification.z3ops.Z3``,
so the terms it returns are what ``settle`` computes, symbol for symbol: shares
(``ceil``/``floor`` through SMT-LIB ``div``), the choice fold, the Clarke tax under ``clarke``
and ``paper``, the subsidy, the transfers, the dust and the surplus. What this module adds is
only the symbols and their domain:

- budgets, claims and (optionally) the recycled subsidy are fresh integers; the weights are
  concrete Python ints (they fix the rounding and keep ``C*w`` linear);
- under ``uniform`` the mechanism draws ``C_m`` from ``random.Random(seed)``, a deterministic
  function of the seed and of the interval ends, which are functions of the claims; z3
  cannot reason about the Mersenne Twister, so each run gets its own unconstrained draw in
  the interval. Every seed is one such choice, so "proved" covers every seed; a refutation is
  only reported after a concrete seed reproduces it in ``mechanism.settle``.

The outcome ``none`` is the index :data:`NONE` (``-1``); the value of any per-proposal
vector at ``none`` is 0 (SPEC section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import z3

import mechanism
from mechanism.clarke import best_without as _best_without
from mechanism.clarke import choice_start
from mechanism.clarke import choice_step as _choice_step
from mechanism.settle import participant_utility, settle_core
from mechanism.shares import policy_budgets
from mechanism.validate import BUDGET_POLICIES, MAX_AMOUNT, RULES
from verification.z3ops import NONE, Z3

Term = z3.ArithRef
Vec = tuple[Term, ...]
Mat = tuple[Vec, ...]


# --- the core's functions on terms (for the induction and the tests) ------------------------


def floor_div(a: Term, d: int) -> Term:
    """``floor(a / d)`` for ``d > 0``, as the core computes it on terms."""
    return Z3.floor_div(a, d)


def ceil_div(a: Term, d: int) -> Term:
    """``ceil(a / d) = -floor(-a / d)``, the identity ``mechanism.cost_shares`` rounds up by."""
    return -floor_div(-a, d)


def cost_shares(budget: Term, owner_weights: Sequence[int]) -> Vec:
    return tuple(mechanism.cost_shares(budget, owner_weights, Z3))


def reward_shares(budget: Term, station_weights: Sequence[int]) -> Vec:
    return tuple(mechanism.reward_shares(budget, station_weights, Z3))


def choice_step(best: Term, winner: Term, welfare: Term, index: int | Term) -> tuple[Term, Term]:
    """``mechanism.clarke.choice_step`` on terms."""
    return _choice_step(best, winner, welfare, index, Z3)


def max_step(best: Term, value: Term) -> Term:
    """One step of ``ops.fold_max`` on terms (the step of the tax's maximum)."""
    return Z3.fold_max(best, [value])


def choose(welfare: Sequence[Term]) -> tuple[Term, Term]:
    """``(max(0, max_m S(m)), x*)``: the core's choice fold on terms."""
    best, winner = choice_start(Z3)
    for m, s in enumerate(welfare):
        best, winner = _choice_step(best, winner, s, Z3.index(m), Z3)
    return z3.IntVal(best) if isinstance(best, int) else best, winner


def best_without(others: Sequence[Term]) -> Term:
    return _best_without(others, Z3)


def _winner_term(winner: Term | Sequence[z3.BoolRef]) -> Term:
    """The winner term; also accepts the older form, ``winner_is[m]`` the literal ``x* == m``."""
    if isinstance(winner, (list, tuple)):
        return z3.Sum([z3.If(is_m, m, 0) for m, is_m in enumerate(winner)]) + z3.If(z3.Or(*winner), 0, NONE) if winner else z3.IntVal(NONE)
    return winner


def at(vec: Sequence[Term], winner: Term | Sequence[z3.BoolRef]) -> Term:
    """``vec[x*]``, 0 at ``none``."""
    return Z3.at(vec, _winner_term(winner))


def clarke_tax(others: Sequence[Term], winner: Term | Sequence[z3.BoolRef]) -> Term:
    return mechanism.clarke_tax(others, _winner_term(winner), Z3)


def net_value(side: str, claim: Term, share: Term) -> Term:
    """``n_p(m)``: ``mechanism.net_values`` of one claim and share."""
    return mechanism.net_values(side, [claim], [share])[0]


# --- a whole settlement ---------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolicProfile:
    """The inputs of ``settle`` with z3 terms for every amount and concrete weights."""

    budgets: Vec
    owner_weights: tuple[int, ...]
    station_weights: tuple[int, ...]
    owner_values: Mat
    station_costs: Mat
    subsidy: Term | int = 0  # the recycled tax announced before the round (0: none)
    bonus_bps: Term | int = 0  # SPEC section 9's bonus fraction (0: none), in [0, 10000]
    contributions: Vec | None = None  # the winner's report, one per station (None: by weight)
    no_show: tuple[z3.BoolRef, ...] | None = None  # per station: it never revealed (None: all did)

    @property
    def n_proposals(self) -> int:
        return len(self.budgets)

    def claims(self, side: str) -> Mat:
        if side == "owner":
            return self.owner_values
        if side == "station":
            return self.station_costs
        raise ValueError(f"side: unknown value {side!r}, expected owner or station")

    def with_claims(self, side: str, index: int, row: Sequence[Term]) -> SymbolicProfile:
        """The same profile with participant ``(side, index)`` claiming ``row`` instead."""
        mat = list(self.claims(side))
        if not 0 <= index < len(mat):
            raise ValueError(f"index: no {side} {index} in a profile of {len(mat)}")
        mat[index] = tuple(row)
        key = "owner_values" if side == "owner" else "station_costs"
        return replace(self, **{key: tuple(mat)})

    def amounts(self) -> list[Term]:
        """Every symbolic amount (budgets, claims and a symbolic subsidy)."""
        extra = [self.subsidy] if isinstance(self.subsidy, z3.ExprRef) else []
        return [*self.budgets, *self.claim_amounts(), *extra, *(self.contributions or ())]

    def bonus_domain(self) -> list[z3.BoolRef]:
        """``0 <= bonus_bps <= 10000`` when the bonus fraction is a symbol."""
        b = self.bonus_bps
        return [z3.And(0 <= b, b <= mechanism.BPS)] if isinstance(b, z3.ExprRef) else []

    def no_show_domain(self) -> list[z3.BoolRef]:
        """A station that never revealed counts as claiming zeros (SPEC section 5 step 4)."""
        if self.no_show is None:
            return []
        return [z3.Implies(silent, z3.And(*[k == 0 for k in row])) for silent, row in zip(self.no_show, self.station_costs)]

    def claim_amounts(self) -> list[Term]:
        """Every symbolic claim (what the settlement reads under ``midpoint``/``uniform``)."""
        return [*(x for row in self.owner_values for x in row), *(x for row in self.station_costs for x in row)]


def fresh_vector(name: str, n: int) -> Vec:
    return tuple(z3.Int(f"{name}_{m}") for m in range(n))


def fresh_profile(
    n_proposals: int,
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    prefix: str = "",
    *,
    with_subsidy: bool = False,
    with_bonus: bool = False,
) -> SymbolicProfile:
    """A profile whose budgets and claims (and, if asked, the subsidy, and the bonus fraction
    with the winner's reported contributions) are fresh symbols."""
    if n_proposals < 1:
        raise ValueError("n_proposals: at least one proposal is needed")
    if not owner_weights or min(owner_weights) < 1:
        raise ValueError("owner_weights: at least one owner, every weight >= 1")
    if not station_weights or min(station_weights) < 1:
        raise ValueError("station_weights: at least one station, every weight >= 1")
    return SymbolicProfile(
        budgets=fresh_vector(f"{prefix}C", n_proposals),
        owner_weights=tuple(owner_weights),
        station_weights=tuple(station_weights),
        owner_values=tuple(fresh_vector(f"{prefix}b_{i}", n_proposals) for i in range(len(owner_weights))),
        station_costs=tuple(fresh_vector(f"{prefix}k_{j}", n_proposals) for j in range(len(station_weights))),
        subsidy=z3.Int(f"{prefix}subsidy") if with_subsidy else 0,
        bonus_bps=z3.Int(f"{prefix}bonus_bps") if with_bonus else 0,
        contributions=fresh_vector(f"{prefix}contribution", len(station_weights)) if with_bonus else None,
    )


def amount_domain(terms: Sequence[Term], maximum: int = MAX_AMOUNT) -> list[z3.BoolRef]:
    """``0 <= x <= maximum`` for every amount (SPEC section 1: at most ``2**96 - 1``)."""
    return [z3.And(0 <= t, t <= maximum) for t in terms]


@dataclass(frozen=True)
class SymbolicOutcome:
    """``mechanism.settle_core``'s result on terms, plus the side conditions of the draws."""

    winner: Term  # proposal index, or NONE
    winner_is: tuple[z3.BoolRef, ...]  # winner_is[m] is ``x* == m``
    welfare: Vec
    budgets: Vec
    cost_shares: Mat  # c[i][m]
    reward_shares: Mat  # r[j][m]
    owner_tax: Vec
    station_tax: Vec
    owner_share: Vec  # c[i][x*]
    station_share: Vec  # r[j][x*]
    owner_pays: Vec
    station_receives: Vec
    dust: Term
    surplus: Term
    constraints: tuple[z3.BoolRef, ...]  # e.g. the ``uniform`` draw's interval
    intervals: tuple[tuple[Term, Term], ...] = ()  # ``(lo, hi)`` per proposal under ``uniform``
    pool_pays: Term | int = 0  # the subsidy the pool pays into the winner's budget
    subsidy: Term | int = 0
    bonus_pool: Term | int = 0  # B at the outcome (SPEC section 9)
    station_weight_part: Vec = ()  # what a station is paid at settlement, before its tax
    station_bonus: Vec = ()


def _as_term(x: Any) -> Term:
    return z3.IntVal(x) if isinstance(x, int) else x


def effective_budgets(
    policy: str, profile: SymbolicProfile, draw: Sequence[Term] | None
) -> tuple[Vec, list[z3.BoolRef], list[tuple[Term, Term]]]:
    """``C_m`` under a budget policy (``mechanism.policy_budgets`` on terms), the draws' side
    conditions and their intervals."""
    if policy not in BUDGET_POLICIES:
        raise ValueError(f"budget_policy: unknown value {policy!r}, expected one of {', '.join(BUDGET_POLICIES)}")
    n = profile.n_proposals
    if policy == "uniform" and (draw is None or len(draw) != n):
        raise ValueError("draw: budget_policy 'uniform' needs one fresh draw symbol per proposal")
    constraints: list[z3.BoolRef] = []
    intervals: list[tuple[Term, Term]] = []
    pending = iter(draw or ())

    def draw_in(lo: Term, hi: Term) -> Term:
        d = next(pending)
        constraints.append(z3.And(lo <= d, d <= hi))
        intervals.append((lo, hi))
        return d

    budgets = policy_budgets(policy, profile.budgets, profile.owner_values, profile.station_costs, n, draw_in, Z3)
    return tuple(_as_term(c) for c in budgets), constraints, intervals


def encode_settle(
    profile: SymbolicProfile,
    rule: str = "clarke",
    budget_policy: str = "budget",
    draw: Sequence[Term] | None = None,
) -> SymbolicOutcome:
    """``mechanism.settle`` as z3 terms: its own ``policy_budgets`` and ``settle_core``."""
    if rule not in RULES:
        raise ValueError(f"rule: unknown value {rule!r}, expected one of {', '.join(RULES)}")
    budgets, constraints, intervals = effective_budgets(budget_policy, profile, draw)
    core = settle_core(
        budgets, profile.owner_weights, profile.station_weights, profile.owner_values, profile.station_costs,
        rule, profile.subsidy, Z3, bonus_bps=profile.bonus_bps, contributions=profile.contributions,
        no_show=profile.no_show,
    )
    n = profile.n_proposals
    c = tuple(tuple(_as_term(core.cost_shares[m][i]) for m in range(n)) for i in range(len(profile.owner_weights)))
    r = tuple(tuple(_as_term(core.reward_shares[m][j]) for m in range(n)) for j in range(len(profile.station_weights)))
    vec = lambda xs: tuple(_as_term(x) for x in xs)  # noqa: E731
    return SymbolicOutcome(
        winner=core.winner,
        winner_is=tuple(core.winner == m for m in range(n)),
        welfare=vec(core.welfare),
        budgets=budgets,
        cost_shares=c,
        reward_shares=r,
        owner_tax=vec(core.owner_tax),
        station_tax=vec(core.station_tax),
        owner_share=vec(core.owner_share),
        station_share=vec(core.station_share),
        owner_pays=vec(core.owner_pays),
        station_receives=vec(core.station_receives),
        dust=_as_term(core.dust),
        surplus=_as_term(core.surplus),
        constraints=tuple(constraints),
        intervals=tuple(intervals),
        pool_pays=_as_term(core.pool_pays),
        subsidy=profile.subsidy,
        bonus_pool=_as_term(core.bonus_pool),
        station_weight_part=vec(core.station_weight_part),
        station_bonus=vec(core.station_bonus),
    )


def utility(out: SymbolicOutcome, side: str, index: int, true_claims: Sequence[Term]) -> Term:
    """Utility under the true claims: ``mechanism.settle.participant_utility`` on terms."""
    transfer = out.owner_pays[index] if side == "owner" else out.station_receives[index] if side == "station" else None
    if transfer is None:
        raise ValueError(f"side: unknown value {side!r}, expected owner or station")
    return participant_utility(side, at(true_claims, out.winner), transfer)


# --- concrete evaluation (for the encoder's own tests and for decoding models) -------------


def substitution(profile: SymbolicProfile, concrete: dict[str, object]) -> list[tuple[Term, Term]]:
    """Pairs ``(symbol, value)`` that put the settle keyword arguments ``concrete`` into ``profile``."""
    pairs: list[tuple[Term, Term]] = []
    budgets = concrete.get("budgets")
    if isinstance(profile.subsidy, z3.ExprRef):
        pairs.append((profile.subsidy, z3.IntVal(int(concrete.get("subsidy", 0)))))  # type: ignore[arg-type]
    if budgets is not None:
        pairs += [(s, z3.IntVal(v)) for s, v in zip(profile.budgets, budgets)]  # type: ignore[arg-type]
    for key, mat in (("owner_values", profile.owner_values), ("station_costs", profile.station_costs)):
        rows = concrete[key]
        pairs += [(s, z3.IntVal(v)) for srow, row in zip(mat, rows) for s, v in zip(srow, row)]  # type: ignore[union-attr]
    return pairs


def evaluate(term: Term, pairs: Sequence[tuple[Term, Term]]) -> int:
    """The integer that ``term`` takes once every symbol in ``pairs`` is substituted."""
    value = z3.simplify(z3.substitute(term, *pairs)) if pairs else z3.simplify(term)
    if not z3.is_int_value(value):
        raise ValueError(f"term: does not reduce to an integer after substitution: {value}")
    return value.as_long()


def model_int(model: z3.ModelRef, term: Term) -> int:
    """The integer value of ``term`` in ``model`` (unconstrained symbols default to 0)."""
    return model.eval(term, model_completion=True).as_long()


def vector_fn(fn: z3.FuncDeclRef) -> Callable[[Term], Term]:
    """A per-proposal vector given as an uninterpreted function ``Int -> Int``."""
    return lambda m: fn(m)
