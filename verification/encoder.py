"""Translator: SPEC sections 2-3 as z3 integer terms (the layer below every check).

Every function here mirrors one function of ``mechanism/`` and is built from the same few
operations, so that a check proves something about the function the code runs:

- shares: ``ceil(C*w/W)`` and ``floor(C*u/U)``. The weights are concrete Python ints, so
  ``C*w`` stays linear; z3's integer ``/`` is SMT-LIB ``div``, which is Euclidean division
  (``a = d*q + r`` with ``0 <= r < |d|``), i.e. exactly ``floor`` for a positive divisor.
  The ceiling is ``-((-a) div d)``, the same identity as ``mechanism.shares.ceil_div``.
- the choice: a left fold of :func:`choice_step` over the proposals starting from
  ``(best=0, winner=none)``; the strict ``>`` gives ties to the lowest index, and a maximum of
  exactly 0 never replaces ``none``. The unbounded proof (``verification.induction``) reasons
  about this very step function.
- the Clarke tax: ``max(0, max_x S_-p(x)) - S_-p(x*)``, the max again a fold
  (:func:`max_step`), for rule ``clarke`` (``S`` counts everybody) and rule ``paper`` (each
  side's own total).
- budget policies: ``budget`` (free symbols, fixed before the claims), ``midpoint`` (the
  exact ``(sum k + sum b) div 2``) and ``uniform``: an arbitrary integer in
  ``[min(sum k, sum b), max(sum k, sum b)]`` per run. The mechanism draws it from
  ``random.Random(seed)``, a deterministic function of the seed and of the interval ends,
  which are themselves functions of the claims; z3 cannot reason about the Mersenne
  Twister, so each run gets its own unconstrained draw in the interval. Every seed is one
  such choice, so "proved" covers every seed; a refutation is only reported after a concrete
  seed reproduces it in ``mechanism.settle``.

The outcome ``none`` is the index :data:`NONE` (``-1``); the value of any per-proposal
vector at ``none`` is 0 (SPEC section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import z3

from mechanism.validate import BUDGET_POLICIES, MAX_AMOUNT, RULES

NONE = -1
"""Index standing for the outcome ``none`` in the winner term."""

Term = z3.ArithRef
Vec = tuple[Term, ...]
Mat = tuple[Vec, ...]


# --- the operations, one per mechanism function ---------------------------------------------


def floor_div(a: Term, d: int) -> Term:
    """``floor(a / d)`` for a concrete ``d > 0`` (SMT-LIB ``div`` is Euclidean: exact floor)."""
    if d <= 0:
        raise ValueError(f"d: divisor must be a positive integer, got {d}")
    return a / d


def ceil_div(a: Term, d: int) -> Term:
    """``ceil(a / d)`` for a concrete ``d > 0``: ``-((-a) div d)``, as ``mechanism.ceil_div``."""
    return -floor_div(-a, d)


def cost_shares(budget: Term, owner_weights: Sequence[int]) -> Vec:
    """Owner shares ``ceil(C * w_i / W)`` (``mechanism.cost_shares``)."""
    total = sum(owner_weights)
    return tuple(ceil_div(budget * w, total) for w in owner_weights)


def reward_shares(budget: Term, station_weights: Sequence[int]) -> Vec:
    """Station shares ``floor(C * u_j / U)`` (``mechanism.reward_shares``)."""
    total = sum(station_weights)
    return tuple(floor_div(budget * u, total) for u in station_weights)


def choice_step(best: Term, winner: Term, welfare: Term, index: int | Term) -> tuple[Term, Term]:
    """One step of the choice fold: a strictly higher welfare takes over (``mechanism.choose``).

    Strict ``>`` is the whole tie rule: an equal later proposal never replaces an earlier one,
    and a welfare of exactly 0 never replaces the initial ``(0, none)``.
    """
    better = welfare > best
    return z3.If(better, welfare, best), z3.If(better, index, winner)


def max_step(best: Term, value: Term) -> Term:
    """One step of the fold ``max(0, max_x v(x))`` used by the Clarke tax."""
    return z3.If(value > best, value, best)


def choose(welfare: Sequence[Term]) -> tuple[Term, Term]:
    """``(max(0, max_m S(m)), x*)``: the choice fold from ``(0, none)``."""
    best: Term = z3.IntVal(0)
    winner: Term = z3.IntVal(NONE)
    for m, s in enumerate(welfare):
        best, winner = choice_step(best, winner, s, m)
    return best, winner


def best_without(others: Sequence[Term]) -> Term:
    """``max over x in {proposals, none} of S_-p(x)`` (``S_-p(none) = 0``)."""
    best: Term = z3.IntVal(0)
    for s in others:
        best = max_step(best, s)
    return best


def at(vec: Sequence[Term], winner_is: Sequence[z3.BoolRef]) -> Term:
    """``vec[x*]``, with 0 at ``none``; ``winner_is[m]`` is the literal ``x* == m``."""
    return z3.Sum([z3.If(w, v, 0) for w, v in zip(winner_is, vec)]) if vec else z3.IntVal(0)


def clarke_tax(others: Sequence[Term], winner_is: Sequence[z3.BoolRef]) -> Term:
    """``max_x S_-p(x) - S_-p(x*)`` (``mechanism.clarke_tax``)."""
    return best_without(others) - at(others, winner_is)


def net_value(side: str, claim: Term, share: Term) -> Term:
    """``n_p(m)``: ``b - c`` for an owner, ``r - k`` for a station (SPEC section 2)."""
    if side == "owner":
        return claim - share
    if side == "station":
        return share - claim
    raise ValueError(f"side: unknown value {side!r}, expected owner or station")


# --- a whole settlement ---------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolicProfile:
    """The inputs of ``settle`` with z3 terms for every amount and concrete weights."""

    budgets: Vec
    owner_weights: tuple[int, ...]
    station_weights: tuple[int, ...]
    owner_values: Mat
    station_costs: Mat

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
        """Every symbolic amount (budgets and claims)."""
        return [*self.budgets, *self.claim_amounts()]

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
) -> SymbolicProfile:
    """A profile whose budgets and claims are fresh integer symbols ``{prefix}b_i_m`` etc."""
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
    )


def amount_domain(terms: Sequence[Term], maximum: int = MAX_AMOUNT) -> list[z3.BoolRef]:
    """``0 <= x <= maximum`` for every amount (SPEC section 1: at most ``2**96 - 1``)."""
    return [z3.And(0 <= t, t <= maximum) for t in terms]


@dataclass(frozen=True)
class SymbolicOutcome:
    """``mechanism.Outcome`` as z3 terms, plus the side conditions the encoding needs."""

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
    intervals: tuple[tuple[Term, Term], ...] = ()  # ``(sum k, sum b)`` per proposal under ``uniform``


def effective_budgets(
    policy: str, profile: SymbolicProfile, draw: Sequence[Term] | None
) -> tuple[Vec, list[z3.BoolRef]]:
    """``C_m`` under a budget policy (``mechanism.effective_budgets``) and its side conditions."""
    if policy not in BUDGET_POLICIES:
        raise ValueError(f"budget_policy: unknown value {policy!r}, expected one of {', '.join(BUDGET_POLICIES)}")
    if policy == "budget":
        return profile.budgets, []
    n = profile.n_proposals
    lows = [z3.Sum([row[m] for row in profile.station_costs]) for m in range(n)]
    highs = [z3.Sum([row[m] for row in profile.owner_values]) for m in range(n)]
    if policy == "midpoint":
        return tuple(floor_div(lo + hi, 2) for lo, hi in zip(lows, highs)), []
    if draw is None or len(draw) != n:
        raise ValueError("draw: budget_policy 'uniform' needs one fresh draw symbol per proposal")
    inside = [
        z3.And(z3.If(lo <= hi, lo, hi) <= d, d <= z3.If(lo <= hi, hi, lo)) for lo, hi, d in zip(lows, highs, draw)
    ]
    return tuple(draw), inside


def encode_settle(
    profile: SymbolicProfile,
    rule: str = "clarke",
    budget_policy: str = "budget",
    draw: Sequence[Term] | None = None,
) -> SymbolicOutcome:
    """``mechanism.settle`` as z3 terms (SPEC section 3), step for step."""
    if rule not in RULES:
        raise ValueError(f"rule: unknown value {rule!r}, expected one of {', '.join(RULES)}")
    n = profile.n_proposals
    budgets, constraints = effective_budgets(budget_policy, profile, draw)
    intervals: tuple[tuple[Term, Term], ...] = ()
    if budget_policy == "uniform":
        intervals = tuple(
            (z3.Sum([row[m] for row in profile.station_costs]), z3.Sum([row[m] for row in profile.owner_values]))
            for m in range(n)
        )
    c_by_m = [cost_shares(C, profile.owner_weights) for C in budgets]
    r_by_m = [reward_shares(C, profile.station_weights) for C in budgets]
    c = tuple(tuple(c_by_m[m][i] for m in range(n)) for i in range(len(profile.owner_weights)))
    r = tuple(tuple(r_by_m[m][j] for m in range(n)) for j in range(len(profile.station_weights)))
    welfare = tuple(
        z3.Sum([row[m] for row in profile.owner_values]) - z3.Sum([row[m] for row in profile.station_costs])
        for m in range(n)
    )
    _, winner = choose(welfare)
    winner_is = tuple(winner == m for m in range(n))

    owner_net = [[net_value("owner", b, ci) for b, ci in zip(row, crow)] for row, crow in zip(profile.owner_values, c)]
    station_net = [
        [net_value("station", k, rj) for k, rj in zip(row, rrow)] for row, rrow in zip(profile.station_costs, r)
    ]
    if rule == "clarke":
        owner_total = station_total = list(welfare)
    else:  # "paper": each side's tax counts only the others of its own side
        owner_total = [z3.Sum([nrow[m] for nrow in owner_net]) for m in range(n)]
        station_total = [z3.Sum([nrow[m] for nrow in station_net]) for m in range(n)]
    owner_tax = tuple(clarke_tax([t - x for t, x in zip(owner_total, nrow)], winner_is) for nrow in owner_net)
    station_tax = tuple(clarke_tax([t - x for t, x in zip(station_total, nrow)], winner_is) for nrow in station_net)

    owner_share = tuple(at(row, winner_is) for row in c)
    station_share = tuple(at(row, winner_is) for row in r)
    dust = z3.Sum(list(owner_share)) - z3.Sum(list(station_share))
    return SymbolicOutcome(
        winner=winner,
        winner_is=winner_is,
        welfare=welfare,
        budgets=tuple(budgets),
        cost_shares=c,
        reward_shares=r,
        owner_tax=owner_tax,
        station_tax=station_tax,
        owner_share=owner_share,
        station_share=station_share,
        owner_pays=tuple(s + t for s, t in zip(owner_share, owner_tax)),
        station_receives=tuple(s - t for s, t in zip(station_share, station_tax)),
        dust=dust,
        surplus=z3.Sum([*owner_tax, *station_tax]) + dust,
        constraints=tuple(constraints),
        intervals=intervals,
    )


def utility(out: SymbolicOutcome, side: str, index: int, true_claims: Sequence[Term]) -> Term:
    """Utility under the true claims (``mechanism.utility``): ``v(x*) - pays`` or ``receives - kappa(x*)``."""
    own = at(true_claims, out.winner_is)
    if side == "owner":
        return own - out.owner_pays[index]
    if side == "station":
        return out.station_receives[index] - own
    raise ValueError(f"side: unknown value {side!r}, expected owner or station")


# --- concrete evaluation (for the encoder's own tests and for decoding models) -------------


def substitution(profile: SymbolicProfile, concrete: dict[str, object]) -> list[tuple[Term, Term]]:
    """Pairs ``(symbol, value)`` that put the settle keyword arguments ``concrete`` into ``profile``."""
    pairs: list[tuple[Term, Term]] = []
    budgets = concrete.get("budgets")
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
