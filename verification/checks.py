"""Logic layer: SPEC section 4's properties, bounded, over the exact encoding.

Each check builds the symbolic settlement(s) with ``verification.encoder``, asserts the
**negation** of its property (``verification.solver``), and turns the answer into a
``CheckResult``. A counterexample is decoded into ``settle`` keyword arguments and replayed
through ``mechanism.settle`` / ``mechanism.utility`` (``verification.replay``); a model the
reference does not reproduce raises ``EncodingError``.

Bounds: the number of proposals ``M`` and the participants' registered weights are concrete
(they fix the rounding of the shares); every budget and claim is a free integer in
``[0, 2**96 - 1]`` (SPEC section 1). For a property that may fail, z3 is first asked for a
witness with small amounts (easy to read and, under ``uniform``, to reproduce with a seed);
only the search over the full range can prove it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

import mechanism
from mechanism.validate import MAX_AMOUNT
from verification import encoder as enc
from verification import replay
from verification.results import FAILS, HOLDS, CheckResult
from verification.solver import PROVED, REFUTED, UNKNOWN, Solved, solve
from verification.z3ops import Z3

SMALL_AMOUNT = 100
"""Cap on amounts in the first, witness-seeking search of a property that may fail."""

UNIFORM_RETRIES = 20
"""Under ``uniform``, how many models to try before giving up on finding a reproducing seed."""

UNIFORM_WIDTH = 2
"""In the witness-seeking search under ``uniform``, every draw interval is at most this wide:
with at most 3 possible draws per proposal, some seed soon draws what the model drew."""


@dataclass(frozen=True)
class Bounds:
    """The finite part of a bounded check: ``M`` and the registered weights."""

    n_proposals: int
    owner_weights: tuple[int, ...] = (1, 2)
    station_weights: tuple[int, ...] = (2, 3)

    def __post_init__(self) -> None:
        if self.n_proposals < 1:
            raise ValueError(f"n_proposals: at least 1 proposal, got {self.n_proposals}")
        if not self.owner_weights or min(self.owner_weights) < 1:
            raise ValueError("owner_weights: at least one owner, every weight >= 1")
        if not self.station_weights or min(self.station_weights) < 1:
            raise ValueError("station_weights: at least one station, every weight >= 1")

    def describe(self) -> str:
        w = ",".join(map(str, self.owner_weights))
        u = ",".join(map(str, self.station_weights))
        return f"M={self.n_proposals}; w=({w}); u=({u}); amounts<2**96"


@dataclass(frozen=True)
class _Encoded:
    """What one check asks the solver, and how to replay a model of it."""

    background: Callable[[int], list[z3.BoolRef]]  # the domain, given the amount cap
    negated: z3.BoolRef
    decode: Callable[[z3.ModelRef], dict[str, Any] | None]  # replayed witness (None: not reproduced)
    variables: tuple[enc.Term, ...]  # the free amounts, to block a model no seed reproduces


def _run(
    prop: str,
    rule: str,
    policy: str,
    side: str,
    bounds: Bounds,
    encoded: _Encoded,
    *,
    expected: str,
    timeout_s: float,
    bounds_text: str | None = None,
    witness_first: bool | None = None,
    logic: str | None = None,
) -> CheckResult:
    """Solve, decode, replay; small amounts first when the property may fail (``logic``:
    see ``verification.solver.solve``).

    ``witness_first`` (default: unless SPEC expects the property to hold) runs the small-
    amount search before the full one; each search gets the whole ``timeout_s``.
    """
    spent = cpu = 0.0
    opinions: list[str] = []
    if witness_first is None:
        witness_first = expected != HOLDS
    caps = [SMALL_AMOUNT, MAX_AMOUNT] if witness_first else [MAX_AMOUNT]
    answer: Solved | None = None
    witness = None
    blocked: list[z3.BoolRef] = []
    for cap in caps:
        for _ in range(UNIFORM_RETRIES if policy == "uniform" else 1):
            answer = solve([*encoded.background(cap), *blocked], encoded.negated, timeout_s=timeout_s, logic=logic)
            spent += answer.seconds
            cpu += answer.cpu_seconds
            if answer.second:
                opinions.append(answer.second)
            if answer.verdict != REFUTED:
                break
            assert answer.model is not None
            witness = encoded.decode(answer.model)
            if witness is not None:
                break
            # Under ``uniform`` the same seed couples the two runs' draws, so some models
            # have no seed at all: exclude this one and ask for another.
            model = answer.model
            blocked.append(z3.Or([x != enc.model_int(model, x) for x in encoded.variables]))
        if answer is not None and answer.verdict == REFUTED:
            break
        if blocked:
            # Counterexamples of the encoding exist (we blocked them): a later unsat is about
            # the encoding minus those models, not a proof; and a small cap is no full range.
            break
        # proved or unknown under a small cap says nothing about the full range: go on.
    assert answer is not None
    verdict = answer.verdict
    if verdict == REFUTED and witness is None:
        # Only under ``uniform``: the model is consistent with settle for its draws, but no
        # seed we tried draws them; not proved, not shown refuted either.
        verdict = UNKNOWN
    if verdict == PROVED and blocked:
        verdict = UNKNOWN
    text = bounds_text or bounds.describe()
    if answer.verdict == UNKNOWN:
        text += f" (z3: {answer.reason})"
    elif verdict == UNKNOWN and answer.verdict == PROVED:
        text += f" (no seed < {replay.SEED_TRIES} reproduces {len(blocked)} counterexamples of the encoding; unsat without them)"
    elif verdict == UNKNOWN:
        text += f" (no seed < {replay.SEED_TRIES} reproduces any of {UNIFORM_RETRIES} models)"
    return CheckResult(prop, rule, policy, side, text, verdict, witness, spent, expected, cpu, tuple(opinions))


def _domain(profile: enc.SymbolicProfile, extra: Sequence[enc.Term], outs: Sequence[enc.SymbolicOutcome]) -> Callable[[int], list[z3.BoolRef]]:
    def background(cap: int) -> list[z3.BoolRef]:
        facts = enc.amount_domain([*profile.amounts(), *extra], cap) + profile.bonus_domain() + profile.no_show_domain()
        for out in outs:
            facts += list(out.constraints)
            if cap < MAX_AMOUNT:  # witness search only: never part of a proof
                facts += [z3.And(lo - hi <= UNIFORM_WIDTH, hi - lo <= UNIFORM_WIDTH) for lo, hi in out.intervals]
        return facts

    return background


def _read(profile: enc.SymbolicProfile, policy: str) -> tuple[enc.Term, ...]:
    """The symbols the settlement reads (the budget symbols are unused unless ``budget``)."""
    subsidy = [profile.subsidy] if isinstance(profile.subsidy, z3.ExprRef) else []
    bonus = [profile.bonus_bps] if isinstance(profile.bonus_bps, z3.ExprRef) else []
    return tuple(profile.amounts() + bonus if policy == "budget" else [*profile.claim_amounts(), *subsidy, *bonus])


def _draw(policy: str, name: str, n: int) -> enc.Vec | None:
    return enc.fresh_vector(name, n) if policy == "uniform" else None


# --- truthfulness ---------------------------------------------------------------------------


def check_truthfulness(
    rule: str,
    policy: str,
    side: str,
    bounds: Bounds,
    *,
    index: int = 0,
    expected: str = HOLDS,
    timeout_s: float = 60.0,
    witness_first: bool | None = None,
    with_subsidy: bool = False,
) -> CheckResult:
    """DSIC: for participant ``(side, index)``, no lie beats the truth (SPEC section 4).

    Two settlements share every symbol except the participant's own row: in the first it
    claims its true values, in the second a free lie. Other claims, budgets and the true
    values are all free. Under ``uniform`` each settlement has its own free draw.
    """
    n = bounds.n_proposals
    profile = enc.fresh_profile(n, bounds.owner_weights, bounds.station_weights, with_subsidy=with_subsidy)
    lie = enc.fresh_vector("lie", n)
    lied = profile.with_claims(side, index, lie)
    truth_row = profile.claims(side)[index]
    out_t = enc.encode_settle(profile, rule, policy, _draw(policy, "drawT", n))
    out_l = enc.encode_settle(lied, rule, policy, _draw(policy, "drawL", n))
    u_t = enc.utility(out_t, side, index, truth_row)
    u_l = enc.utility(out_l, side, index, truth_row)

    def decode(model: z3.ModelRef) -> dict[str, Any] | None:
        return replay.truthfulness_witness(
            model, profile, lied, out_t, out_l, rule=rule, policy=policy, side=side, index=index,
            lie=[enc.model_int(model, x) for x in lie],
            utilities=(enc.model_int(model, u_t), enc.model_int(model, u_l)),
        )

    encoded = _Encoded(_domain(profile, lie, (out_t, out_l)), u_l > u_t, decode, (*_read(profile, policy), *lie))
    text = bounds.describe() + f"; p={side} {index}" + ("; subsidy<2**96" if with_subsidy else "")
    return _run(
        "truthfulness", rule, policy, side, bounds, encoded,
        expected=expected, timeout_s=timeout_s, bounds_text=text, witness_first=witness_first,
    )


# --- properties of one settlement -----------------------------------------------------------


def _single(bounds: Bounds, rule: str, policy: str, *, with_subsidy: bool = False,
            with_bonus: bool = False) -> tuple[enc.SymbolicProfile, enc.SymbolicOutcome]:
    profile = enc.fresh_profile(bounds.n_proposals, bounds.owner_weights, bounds.station_weights, with_subsidy=with_subsidy,
                                with_bonus=with_bonus)
    return profile, enc.encode_settle(profile, rule, policy, _draw(policy, "draw", bounds.n_proposals))


def _decoder(
    profile: enc.SymbolicProfile,
    out: enc.SymbolicOutcome,
    rule: str,
    policy: str,
    violated: replay.Violation,
) -> Callable[[z3.ModelRef], dict[str, Any] | None]:
    """Decode a model of one settlement and replay it; ``violated(outcome, profile)`` re-checks
    the property on settle's outcome and returns the witness details (``None``: it holds)."""

    def decode(model: z3.ModelRef) -> dict[str, Any] | None:
        return replay.single_witness(model, profile, out, rule=rule, policy=policy, violated=violated)

    return decode


def _subsidy_text(bounds: Bounds, with_subsidy: bool) -> str:
    return bounds.describe() + ("; subsidy<2**96" if with_subsidy else "; subsidy=0")


def _single_check(
    prop: str, rule: str, policy: str, bounds: Bounds, with_subsidy: bool,
    negated: Callable[[enc.SymbolicProfile, enc.SymbolicOutcome], z3.BoolRef],
    violated: replay.Violation, *, expected: str, timeout_s: float,
) -> CheckResult:
    """A property of one settlement: build it, negate it, solve, replay."""
    profile, out = _single(bounds, rule, policy, with_subsidy=with_subsidy)
    encoded = _Encoded(
        _domain(profile, [], [out]), negated(profile, out), _decoder(profile, out, rule, policy, violated), _read(profile, policy)
    )
    return _run(
        prop, rule, policy, "all", bounds, encoded, expected=expected, timeout_s=timeout_s,
        bounds_text=_subsidy_text(bounds, with_subsidy),
    )


def check_budget_balance(
    rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0, with_subsidy: bool = True
) -> CheckResult:
    """Weak budget balance on the transfers the code returns: what owners pay, plus the
    subsidy the pool pays in (0 without one), covers what stations receive; and the pool pays
    in at most the announced subsidy and at most the winner's budget."""

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        return z3.Or(
            z3.Sum(list(out.owner_pays)) + out.pool_pays < z3.Sum(list(out.station_receives)),
            out.pool_pays < 0,
            out.pool_pays > profile.subsidy,
            out.pool_pays > enc.at(out.budgets, out.winner),
        )

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        paid, received, pool = sum(o.owner_pays), sum(o.station_receives), replay.pool_pays(o, p)
        budget = 0 if o.winner is None else o.budgets[o.winner]
        if paid + pool < received or not 0 <= pool <= min(p.get("subsidy", 0), budget):
            return {"owners_pay": paid, "pool_pays": pool, "stations_receive": received}
        return None

    return _single_check(
        "weak budget balance", rule, policy, bounds, with_subsidy, negated, violated, expected=expected, timeout_s=timeout_s
    )


def check_accounting(
    rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0, with_subsidy: bool = True
) -> CheckResult:
    """Exact accounting on the transfers the code returns: what owners pay in, plus the
    subsidy, equals what stations receive plus what stays in the pool (the reported surplus,
    which must not be negative), to the wei.

    Nothing here restates how the code computes the surplus or the dust: a core whose
    transfers, subsidy or surplus disagree with each other is refuted.
    """

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        paid_in = z3.Sum(list(out.owner_pays)) + out.pool_pays
        return z3.Or(paid_in != z3.Sum(list(out.station_receives)) + out.surplus, out.surplus < 0)

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        paid_in = sum(o.owner_pays) + replay.pool_pays(o, p)
        if paid_in == sum(o.station_receives) + o.surplus and o.surplus >= 0:
            return None
        return {"paid_in": paid_in, "stations_receive": sum(o.station_receives), "surplus": o.surplus}

    return _single_check(
        "exact accounting", rule, policy, bounds, with_subsidy, negated, violated, expected=expected, timeout_s=timeout_s
    )


def check_shares_cover_the_budget(
    rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0, with_subsidy: bool = True
) -> CheckResult:
    """SPEC section 2's rounding, on the shares at the outcome the code returns: the owners'
    shares plus the pool's payment cover the winner's budget ``C*`` with less than one wei of
    excess per owner, and the stations' shares stay within ``C*`` by less than one wei per
    station (0 at ``none``). So the dust is rounding only, and it favours the contract."""
    n_o, n_s = len(bounds.owner_weights), len(bounds.station_weights)

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        budget = enc.at(out.budgets, out.winner)
        covered = z3.Sum(list(out.owner_share)) + out.pool_pays - budget
        short = budget - z3.Sum(list(out.station_share))
        return z3.Or(covered < 0, covered >= n_o, short < 0, short >= n_s)

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        budget = 0 if o.winner is None else o.budgets[o.winner]
        covered = sum(o.owner_share) + replay.pool_pays(o, p) - budget
        short = budget - sum(o.station_share)
        if 0 <= covered < n_o and 0 <= short < n_s:
            return None
        return {"winner_budget": budget, "owner_excess": covered, "station_shortfall": short}

    return _single_check(
        "shares cover the budget", rule, policy, bounds, with_subsidy, negated, violated, expected=expected, timeout_s=timeout_s
    )


def _sym_max(terms: Sequence[enc.Term]) -> enc.Term:
    return Z3.max_of(terms)


def check_solvency(
    rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0, with_subsidy: bool = True
) -> CheckResult:
    """Solvency: with the reveal bounds of SPEC section 5 (``mechanism``'s deposit bounds, on
    the owners' shares after the subsidy) as deposits, nobody owes more.

    An owner owes ``owner_pays[i]``; a station owes ``-station_receives[j]`` when negative.
    """

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        owner_deposit = [mechanism.owner_deposit_bound(row, crow, _sym_max) for row, crow in zip(profile.owner_values, out.cost_shares)]
        station_deposit = [mechanism.station_deposit_bound(row, _sym_max) for row in profile.station_costs]
        return z3.Or(
            *[p > d for p, d in zip(out.owner_pays, owner_deposit)],
            *[-r > d for r, d in zip(out.station_receives, station_deposit)],
        )

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        c, r = replay.shares_by_participant(o.budgets, p)
        for side, owes, claims, sh in (
            ("owner", o.owner_pays, p["owner_values"], c),
            ("station", [-x for x in o.station_receives], p["station_costs"], r),
        ):
            bounds_ = [mechanism.owner_deposit_bound(row, srow) if side == "owner" else mechanism.station_deposit_bound(row)
                       for row, srow in zip(claims, sh)]
            for i, (x, d) in enumerate(zip(owes, bounds_)):
                if x > d:
                    return {"side": side, "index": i, "owes": x, "deposit": d}
        return None

    return _single_check("solvency", rule, policy, bounds, with_subsidy, negated, violated, expected=expected, timeout_s=timeout_s)


def check_efficiency(rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0) -> CheckResult:
    """Efficiency: ``x*`` maximizes the reported welfare over the proposals and ``none``."""

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        chosen = enc.at(out.welfare, out.winner)
        return z3.Or(chosen < 0, *[chosen < s for s in out.welfare])

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        chosen_value = 0 if o.winner is None else o.welfare[o.winner]
        best = max(0, *o.welfare)
        return {"winner": o.winner, "chosen_welfare": chosen_value, "best_welfare": best} if chosen_value < best else None

    return _single_check("efficiency", rule, policy, bounds, False, negated, violated, expected=expected, timeout_s=timeout_s)


def spec_winner(welfare: Sequence[int]) -> int | None:
    """SPEC section 3's winner, read off the definition (not the code): the lowest index of
    the maximum welfare when that maximum is > 0, else ``none``."""
    top = max(welfare)
    return welfare.index(top) if top > 0 else None


def check_tie_rule(rule: str, policy: str, bounds: Bounds, *, expected: str = HOLDS, timeout_s: float = 60.0) -> CheckResult:
    """The winner the code picks is SPEC section 3's: ties between proposals to the lowest
    index, a maximum of exactly 0 (a tie with ``none``) to ``none``."""

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        w, s = out.winner, out.welfare
        none_right = z3.And(*[x <= 0 for x in s])
        proposal_right = [
            z3.And(s[m] > 0, *[s[m] >= x for x in s], *[s[j] < s[m] for j in range(m)]) for m in range(len(s))
        ]
        right = z3.Or(z3.And(w == enc.NONE, none_right), *[z3.And(w == m, ok) for m, ok in enumerate(proposal_right)])
        return z3.Not(right)

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        want = spec_winner(o.welfare)
        return None if o.winner == want else {"winner": o.winner, "spec_winner": want, "welfare": o.welfare}

    return _single_check("tie rule", rule, policy, bounds, False, negated, violated, expected=expected, timeout_s=timeout_s)


def check_individual_rationality(
    rule: str, policy: str, side: str, bounds: Bounds, *, expected: str = FAILS, timeout_s: float = 60.0
) -> CheckResult:
    """Ex-post IR of one side: with everybody truthful, nobody's utility is negative.

    SPEC section 4 expects it to fail (the paper claims IR only in expectation).
    """
    profile, out = _single(bounds, rule, policy)
    rows = profile.claims(side)
    utilities = [enc.utility(out, side, i, row) for i, row in enumerate(rows)]
    negated = z3.Or(*[u < 0 for u in utilities])
    key = "owner_values" if side == "owner" else "station_costs"

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        for i, row in enumerate(p[key]):
            u = mechanism.utility(o, side, i, row)
            if u < 0:
                return {"side": side, "index": i, "utility": u, "winner": o.winner}
        return None

    encoded = _Encoded(_domain(profile, [], [out]), negated, _decoder(profile, out, rule, policy, violated), _read(profile, policy))
    return _run("ex-post individual rationality", rule, policy, side, bounds, encoded, expected=expected, timeout_s=timeout_s)


__all__ = [
    "PROVED",
    "REFUTED",
    "UNKNOWN",
    "Bounds",
    "check_accounting",
    "check_budget_balance",
    "check_efficiency",
    "check_individual_rationality",
    "check_shares_cover_the_budget",
    "check_solvency",
    "check_tie_rule",
    "check_truthfulness",
]
