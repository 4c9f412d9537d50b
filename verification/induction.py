"""Unbounded proofs of truthfulness (rule ``clarke``, policy ``budget``; SPEC section 4).

**Every number of participants.** Under the ``budget`` policy a participant ``p``'s share
``c_p(x)`` (or ``r_p(x)``) is fixed by the registered weights and the budget before anyone
claims, and the reported welfare is ``S(x) = S_-p(x) + n_p(x)`` where the others' welfare
``A(x) = S_-p(x)`` does not depend on ``p``'s claim. ``p``'s utility therefore depends on the
other participants only through the integer vector ``A``. :func:`abstract_truthfulness`
proves truthfulness with ``A`` and ``p``'s shares as free integers (any sign, any size): the
proof covers every number of owners and stations, every weight and every budget at once.

**Every number of proposals.** The choice is the fold of ``encoder.choice_step`` over the
proposals from ``(0, none)``, and ``max_x A(x)`` the fold of ``encoder.max_step`` from 0.
With the welfare as an uninterpreted function ``Int -> Int`` and the step count ``k`` a free
integer, z3 proves (quantified formulas, no bound on ``k``):

1. the choice invariant holds for ``k = 0`` and is preserved by one ``choice_step``: after
   ``k`` proposals the running best is ``>= 0`` and ``>=`` every welfare so far; either the
   winner is ``none`` and the best is exactly 0, or the winner is a proposal ``< k`` that
   attains the best, the best is ``> 0`` and every earlier proposal is strictly worse (the
   tie rules);
2. the same for the max fold (the best is ``>= 0``, ``>=`` every value so far and is 0 or
   attained);
3. the step to truthfulness: for a free ``M >= 0``, if both the truthful run and the lying
   run satisfy the choice invariant at ``M`` and ``A``'s max satisfies its invariant, the
   truthful utility is at least the lying one.

By induction on ``k`` (1, 2) the invariants hold after all ``M`` steps, for every ``M``;
with 3, truthfulness holds for every ``M``, and, the vector ``A`` being free, for every
number of participants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3

import mechanism
from mechanism.clarke import NONE_WELFARE, best_without, choice_start, choice_step, tax_formula
from mechanism.settle import owner_payment, participant_utility, station_receipt
from verification import encoder as enc
from verification.results import EncodingError, CheckResult
from verification.solver import PROVED, REFUTED, UNKNOWN, Solved, consistency, solve
from verification.z3ops import Z3

Fn = Callable[[enc.Term], enc.Term]

SIDES = ("owner", "station")


# --- participant-count independence (bounded M) --------------------------------------------


def _transfer_at(side: str, share: enc.Term, tax: enc.Term) -> enc.Term:
    """``mechanism``'s transfer of one participant: what an owner pays, a station receives."""
    return owner_payment(share, tax) if side == "owner" else station_receipt(share, tax)


def _utility_at(side: str, own: enc.Term, share: enc.Term, tax: enc.Term) -> enc.Term:
    """``mechanism``'s transfer and utility formulas for one participant at the outcome."""
    return participant_utility(side, own, _transfer_at(side, share, tax))


def _abstract_view(side: str, others: Sequence[enc.Term], share: Sequence[enc.Term], true: Sequence[enc.Term], report: Sequence[enc.Term]) -> tuple[enc.Term, enc.Term]:
    """``p``'s utility and transfer when it reports ``report``, the others' welfare being
    ``others``: ``mechanism``'s own choice, tax, transfer and utility, run on z3 terms."""
    welfare = [a + n for a, n in zip(others, mechanism.net_values(side, report, share))]
    winner = mechanism.choose(welfare, Z3)
    tax = mechanism.clarke_tax(others, winner, Z3)
    transfer = _transfer_at(side, Z3.at(share, winner), tax)
    return participant_utility(side, Z3.at(true, winner), transfer), transfer


def _abstract_utility(side: str, others: Sequence[enc.Term], share: Sequence[enc.Term], true: Sequence[enc.Term], report: Sequence[enc.Term]) -> enc.Term:
    return _abstract_view(side, others, share, true, report)[0]


def realize(side: str, others: Sequence[int], share: Sequence[int], true: Sequence[int]) -> dict[str, Any]:
    """A concrete ``settle`` profile in which participant ``(side, 0)`` has true claims
    ``true``, share ``share[m]`` and faces others' welfare ``S_-p(m) = others[m]``.

    One more participant of each side suffices: with two equal weights on ``p``'s side and
    budgets ``2 * share``, ``p``'s share is exactly ``share``; the other two participants'
    claims make up the difference. Used to replay an abstract counterexample.
    """
    if min(share, default=0) < 0:
        raise ValueError("share: shares are non-negative")
    budgets = [2 * s for s in share]
    if side == "owner":
        # S_-p = b_1 - k_0 + c_p
        gap = [a - s for a, s in zip(others, share)]
        return {
            "budgets": budgets,
            "owner_weights": [1, 1],
            "station_weights": [1],
            "owner_values": [list(true), [max(0, g) for g in gap]],
            "station_costs": [[max(0, -g) for g in gap]],
            "rule": "clarke",
            "budget_policy": "budget",
        }
    # S_-p = b_0 - k_1 - r_p
    gap = [a + s for a, s in zip(others, share)]
    return {
        "budgets": budgets,
        "owner_weights": [1],
        "station_weights": [1, 1],
        "owner_values": [[max(0, g) for g in gap]],
        "station_costs": [list(true), [max(0, -g) for g in gap]],
        "rule": "clarke",
        "budget_policy": "budget",
    }


def abstract_truthfulness(side: str, n_proposals: int, *, timeout_s: float = 60.0) -> tuple[Solved, dict[str, Any] | None]:
    """Truthfulness of ``p`` against an arbitrary others' welfare vector, ``M`` fixed.

    Returns the solver's answer and, when refuted, the replayed SPEC section 6 witness.
    """
    if side not in SIDES:
        raise ValueError(f"side: unknown value {side!r}, expected owner or station")
    others = enc.fresh_vector("A", n_proposals)
    share = enc.fresh_vector("share", n_proposals)
    true = enc.fresh_vector("true", n_proposals)
    lie = enc.fresh_vector("lie", n_proposals)
    u_truth = _abstract_utility(side, others, share, true, true)
    u_lie = _abstract_utility(side, others, share, true, lie)
    # Claims are non-negative and shares too; the others' welfare is any integer at all.
    background = [x >= 0 for x in (*true, *lie, *share)]
    answer = solve(background, u_lie > u_truth, timeout_s=timeout_s)
    if answer.verdict == REFUTED:
        assert answer.model is not None
        witness = _replay_abstract(answer.model, side, others, share, true, lie, (u_truth, u_lie))
        if witness is None:
            # The abstract model has a counterexample that no two-participant profile
            # realizes: the abstraction step does not hold for this code. Not a proof.
            return Solved(UNKNOWN, None, answer.seconds, "abstract counterexample not realizable", answer.cpu_seconds), None
        return answer, witness
    return answer, None


def _replay_abstract(
    model: z3.ModelRef,
    side: str,
    others: Sequence[enc.Term],
    share: Sequence[enc.Term],
    true: Sequence[enc.Term],
    lie: Sequence[enc.Term],
    utilities: tuple[enc.Term, enc.Term],
) -> dict[str, Any] | None:
    """A counterexample to the abstract proof must be a real one: realize it and replay it
    (``None`` when the realized profile does not reproduce it)."""
    val = lambda xs: [enc.model_int(model, x) for x in xs]  # noqa: E731
    truth_kw = realize(side, val(others), val(share), val(true))
    key = "owner_values" if side == "owner" else "station_costs"
    lie_kw = {**truth_kw, key: [val(lie), *truth_kw[key][1:]]}
    t = mechanism.utility(mechanism.settle(**truth_kw), side, 0, val(true))
    lied = mechanism.utility(mechanism.settle(**lie_kw), side, 0, val(true))
    expected = (enc.model_int(model, utilities[0]), enc.model_int(model, utilities[1]))
    if (t, lied) != expected:
        return None
    return {
        "profile": truth_kw,
        "rule": "clarke",
        "side": side,
        "index": 0,
        "lie": val(lie),
        "truthful_utility": t,
        "lie_utility": lied,
    }


def abstraction_obligation(
    side: str,
    n_proposals: int,
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    *,
    index: int = 0,
    budget_policy: str = "budget",
    with_subsidy: bool = False,
    timeout_s: float = 60.0,
) -> Solved:
    """The step from a concrete profile to the abstract one, checked on the exact encoding.

    For every budget and claim of a profile of the given sizes and weights, and every report
    of participant ``p``: (1) the vector ``A(x) = S_-p(x) = S(x) - n_p(x)`` and ``p``'s shares
    are the same whatever ``p`` reports (they depend on the others' claims only), and (2)
    ``p``'s utility in ``encoder.encode_settle`` equals its abstract utility built from ``A``
    and the shares. ``proved`` means the abstraction loses nothing at these sizes. (Under
    ``midpoint`` (1) fails: the shares move with ``p``'s claim.)
    """
    profile = enc.fresh_profile(n_proposals, owner_weights, station_weights, with_subsidy=with_subsidy)
    report = enc.fresh_vector("report", n_proposals)
    true_row = profile.claims(side)[index]

    def view(claims: Sequence[enc.Term]) -> tuple[enc.SymbolicOutcome, list[enc.Term], enc.Vec]:
        out = enc.encode_settle(profile.with_claims(side, index, claims), budget_policy=budget_policy)
        shares = (out.cost_shares if side == "owner" else out.reward_shares)[index]
        others = [s - enc.net_value(side, x, sh) for s, x, sh in zip(out.welfare, claims, shares)]
        return out, others, shares

    out, others, shares = view(report)
    _, others_truth, shares_truth = view(true_row)
    concrete = enc.utility(out, side, index, true_row)
    transfer = (out.owner_pays if side == "owner" else out.station_receives)[index]
    abstract, abstract_transfer = _abstract_view(side, others_truth, shares_truth, true_row, report)
    moved = [a != b for a, b in zip(others, others_truth)] + [a != b for a, b in zip(shares, shares_truth)]
    background = enc.amount_domain([*profile.amounts(), *report])
    return solve(background, z3.Or(concrete != abstract, transfer != abstract_transfer, *moved), timeout_s=timeout_s)


def check_abstraction(side: str, n_proposals: int = 3, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: the abstraction step holds on the exact encoding (two weightings, the second
    with a free recycled subsidy): utility and transfer depend on the others only via S_-p."""
    answers = {
        f"w={w} u={u}{' subsidy' if sub else ''}": abstraction_obligation(
            side, n_proposals, w, u, with_subsidy=sub, timeout_s=timeout_s
        )
        for w, u, sub in (((1, 2), (2, 3), False), ((3, 5, 7), (1, 4), True))
    }
    return _combine(
        "utility depends on others only via S_-p", side,
        f"M={n_proposals}; w=(1,2),(3,5,7); u=(2,3),(1,4); amounts<2**96; subsidy 0 and <2**96; utility and transfer", answers,
    )


def check_any_participants(side: str, max_proposals: int, *, timeout_s: float = 60.0) -> CheckResult:
    """Truthfulness for every number of participants, for ``M = 1..max_proposals``."""
    spent, cpu, verdict, reason = 0.0, 0.0, PROVED, ""
    witness: dict[str, Any] | None = None
    opinions: list[str] = []
    for m in range(1, max_proposals + 1):
        answer, witness = abstract_truthfulness(side, m, timeout_s=timeout_s)
        opinions += [answer.second] if answer.second else []
        spent += answer.seconds
        cpu += answer.cpu_seconds
        if answer.verdict != PROVED:
            verdict, reason = answer.verdict, f"; stopped at M={m}" + (f" (z3: {answer.reason})" if answer.reason else "")
            break
    bounds = f"any N, any weights and budgets (S_-p free); M=1..{max_proposals}{reason}"
    return CheckResult(
        "truthfulness", "clarke", "budget", side, bounds, verdict, witness, spent, cpu_seconds=cpu, second_opinions=tuple(opinions)
    )


# --- the folds, for every M -------------------------------------------------------------------


def _index(name: str) -> enc.Term:
    return z3.Int(name)


def choice_invariant(welfare: Fn, k: enc.Term, best: enc.Term, winner: enc.Term) -> z3.BoolRef:
    """After ``k`` steps of the choice fold: the running best and winner, with SPEC's tie rules
    (``S(none) = 0``; ties to the lowest index; a maximum of exactly 0 to ``none``)."""
    m = _index("m_choice")
    none_welfare = NONE_WELFARE  # SPEC section 3's S(none), the statement (not the code's start)
    return z3.And(
        best >= none_welfare,
        z3.ForAll([m], z3.Implies(z3.And(0 <= m, m < k), welfare(m) <= best)),
        z3.Or(
            z3.And(winner == enc.NONE, best == none_welfare),
            z3.And(
                0 <= winner,
                winner < k,
                welfare(winner) == best,
                best > none_welfare,
                z3.ForAll([m], z3.Implies(z3.And(0 <= m, m < winner), welfare(m) < best)),
            ),
        ),
    )


def max_invariant(values: Fn, k: enc.Term, best: enc.Term) -> z3.BoolRef:
    """After ``k`` steps of the max fold: ``best = max(S_-p(none) = 0, values(0..k-1))``."""
    m = _index("m_max")
    return z3.And(
        best >= NONE_WELFARE,
        z3.ForAll([m], z3.Implies(z3.And(0 <= m, m < k), values(m) <= best)),
        z3.Or(best == NONE_WELFARE, z3.Exists([m], z3.And(0 <= m, m < k, values(m) == best))),
    )


def _function(name: str) -> Fn:
    f = z3.Function(name, z3.IntSort(), z3.IntSort())
    return lambda m: f(m)


def _at(f: Fn, w: enc.Term) -> enc.Term:
    """A per-proposal function at the winner, 0 at ``none`` (``ops.at`` for a function)."""
    return z3.If(w == enc.NONE, 0, f(w))


LINK_M = 6
"""The folds the induction reasons about are checked to be the code's ``choose`` and
``best_without`` for ``M = 1..LINK_M`` (they are written as those folds; this catches a
change that is not)."""


def _term(x: Any) -> enc.Term:
    return z3.IntVal(x) if isinstance(x, int) else x


def link_obligations(timeout_s: float) -> dict[str, Solved]:
    """The code's ``choose`` and ``best_without`` are the folds of its start and step.

    For ``M = 1..LINK_M`` symbolic values: ``mechanism.choose`` gives the winner of the fold of
    ``choice_step`` from ``choice_start``, and ``mechanism.clarke.best_without`` the fold of
    ``ops.fold_max``'s step from ``best_without([])``, and ``clarke_tax`` is ``tax_formula`` of
    the two. A change of the code that the induction would not see fails here.
    """
    diffs: list[z3.BoolRef] = []
    for n in range(1, LINK_M + 1):
        vals = enc.fresh_vector(f"link{n}", n)
        w = z3.Int(f"link_w{n}")
        best, winner = choice_start(Z3)
        top = best_without([], Z3)
        for m, v in enumerate(vals):
            best, winner = choice_step(best, winner, v, Z3.index(m), Z3)
            top = enc.max_step(_term(top), v)
        diffs += [
            mechanism.choose(vals, Z3) != winner,
            _term(best_without(vals, Z3)) != top,
            mechanism.clarke_tax(vals, w, Z3) != tax_formula(top, Z3.at(vals, w)),
        ]
    return {f"code is the fold, M=1..{LINK_M}": solve([], z3.Or(diffs), timeout_s=timeout_s)}


def fold_obligations(timeout_s: float, step: Callable[..., tuple[enc.Term, enc.Term]] = enc.choice_step) -> dict[str, Solved]:
    """Base case and inductive step of both fold invariants (each: negation is unsat).

    The base cases start where the code starts (``choice_start``, ``best_without([])``);
    ``step`` is the choice step under test (the code's; tests pass broken ones). Each
    inductive step comes with a consistency check of its hypotheses, so that it cannot hold
    vacuously.
    """
    welfare = _function("S")
    k, best, winner = z3.Ints("k best winner")
    best2, winner2 = step(best, winner, welfare(k), k)
    values = _function("V")
    top = z3.Int("top")
    start_best, start_winner = choice_start(Z3)
    max_start = _term(best_without([], Z3))
    choice_hyp = [k >= 0, choice_invariant(welfare, k, best, winner)]
    max_hyp = [k >= 0, max_invariant(values, k, top)]
    return {
        "choice base": solve([], z3.Not(choice_invariant(welfare, z3.IntVal(0), _term(start_best), start_winner)), timeout_s=timeout_s),
        "choice step": solve(choice_hyp, z3.Not(choice_invariant(welfare, k + 1, best2, winner2)), timeout_s=timeout_s),
        "choice step hypotheses consistent": consistency(choice_hyp, timeout_s=timeout_s),
        "max base": solve([], z3.Not(max_invariant(values, z3.IntVal(0), max_start)), timeout_s=timeout_s),
        "max step": solve(max_hyp, z3.Not(max_invariant(values, k + 1, enc.max_step(top, values(k)))), timeout_s=timeout_s),
        "max step hypotheses consistent": consistency(max_hyp, timeout_s=timeout_s),
    }


def truthfulness_step(side: str, timeout_s: float) -> dict[str, Solved]:
    """Obligation 3: the invariants at a free ``M`` imply truthful utility >= lying utility,
    with ``mechanism``'s tax, transfer and utility formulas."""
    if side not in SIDES:
        raise ValueError(f"side: unknown value {side!r}, expected owner or station")
    others, share, true, lie = (_function(n) for n in ("A", "share", "true", "lie"))
    net = lambda claim, m: enc.net_value(side, claim(m), share(m))  # noqa: E731
    truthful: Fn = lambda m: others(m) + net(true, m)  # noqa: E731
    lying: Fn = lambda m: others(m) + net(lie, m)  # noqa: E731
    n = z3.Int("M")
    best_t, win_t, best_l, win_l, top = z3.Ints("best_t win_t best_l win_l top")

    def utility(w: enc.Term) -> enc.Term:
        return _utility_at(side, _at(true, w), _at(share, w), tax_formula(top, _at(others, w)))

    background = [
        n >= 0,
        choice_invariant(truthful, n, best_t, win_t),
        choice_invariant(lying, n, best_l, win_l),
        max_invariant(others, n, top),
    ]
    return {
        "truthfulness step": solve(background, utility(win_l) > utility(win_t), timeout_s=timeout_s),
        "truthfulness step hypotheses consistent": consistency(background, timeout_s=timeout_s),
    }


def _guarded(build: Callable[[], dict[str, Solved]], name: str) -> dict[str, Solved]:
    """Run an obligation builder; code that cannot even be run on terms is ``unknown``."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - a broken core must give a verdict, not a crash
        return {name: Solved(UNKNOWN, None, 0.0, f"{type(exc).__name__}: {exc}")}


def check_fold_invariants(timeout_s: float = 60.0) -> CheckResult:
    """Row for the choice and max fold invariants (base and step), valid for every ``M``."""
    answers = {**_guarded(lambda: fold_obligations(timeout_s), "folds"), **_guarded(lambda: link_obligations(timeout_s), "link")}
    return _combine("fold invariant (choice, max)", "all", "every M: base + inductive step", answers)


def check_every_m(side: str, timeout_s: float = 60.0) -> CheckResult:
    """Truthfulness for every ``M`` and every number of participants (obligations 1-3)."""
    answers = {
        **_guarded(lambda: fold_obligations(timeout_s), "folds"),
        **_guarded(lambda: link_obligations(timeout_s), "link"),
        **_guarded(lambda: truthfulness_step(side, timeout_s), "truthfulness step"),
    }
    return _combine("truthfulness", side, "any N, any M (fold induction)", answers)


def _combine(prop: str, side: str, bounds: str, answers: dict[str, Solved]) -> CheckResult:
    spent = sum(a.seconds for a in answers.values())
    cpu = sum(a.cpu_seconds for a in answers.values())
    failed = [name for name, a in answers.items() if a.verdict != PROVED]
    # A counterexample to an inductive step is not a counterexample to the mechanism (the
    # invariant might just be too weak), so anything short of "all proved" is "unknown".
    verdict = PROVED if not failed else UNKNOWN
    if failed:
        bounds += "; not proved: " + ", ".join(f"{n} ({answers[n].verdict})" for n in failed)
    opinions = tuple(a.second for a in answers.values() if a.second)
    return CheckResult(prop, "clarke", "budget", side, bounds, verdict, None, spent, cpu_seconds=cpu, second_opinions=opinions)
