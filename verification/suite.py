"""Which checks run, with which bounds: the quick suite (CI) and the full one.

Both suites cover every row of SPEC section 4. The quick one keeps the bounded checks small
(and still proves truthfulness for every ``M`` and every number of participants by
induction); the full one widens the bounds, adds the ``paper`` rule and the claim-dependent
budget policies to every property, and climbs a ladder of ``M`` for the direct bounded
truthfulness check to see how far it gets within :data:`REACH_SECONDS` per rung.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from verification import bonus, checks, induction, lifting
from verification.checks import Bounds
from verification.results import FAILS, HOLDS, OPEN, CheckResult
from verification.solver import PROVED

REACH_SECONDS = 60.0
"""CPU time limit of one rung of the direct-check ladder ("how high in one minute")."""

REACH_WALL_FACTOR = 3.0
"""z3's timeout is wall clock; on a shared machine a rung gets this many times
:data:`REACH_SECONDS` of wall time, and the CPU time decides whether it counts."""

REQUIRED_DIRECT_M = 32
"""The direct bounded truthfulness check must be proved at least this far (issue 4)."""

QUICK_DIRECT_M = 32
"""``M`` of the quick suite's direct check (a few seconds per side on two cores)."""

SUBSIDY_M = 8
"""``M`` of the direct truthfulness check with a free recycled subsidy."""

LADDER = (8, 16, 32, 40, 48, 56, 64, 80, 96, 128)
"""Values of ``M`` tried by the full suite's direct truthfulness ladder, in order."""

SIDES = ("owner", "station")


@dataclass(frozen=True)
class Check:
    """One planned check: a label for progress displays and the thunk that runs it."""

    label: str
    run: Callable[[], CheckResult]


def _expected_truthful(rule: str, policy: str) -> str:
    return HOLDS if (rule, policy) == ("clarke", "budget") else OPEN


def plan(quick: bool, timeout_s: float) -> list[Check]:
    """Every check but the ladder, in report order."""
    t = timeout_s
    out: list[Check] = []
    direct_m = QUICK_DIRECT_M if quick else REQUIRED_DIRECT_M
    small = Bounds(4)
    tiny = Bounds(2)
    max_abstract_m = 4 if quick else 16

    for side in SIDES:
        # The quick suite checks participant 0; the full one both (they differ in weight).
        for index in (0,) if quick else (0, 1):
            out.append(
                Check(
                    f"truthfulness clarke/budget {side} {index}, direct M={direct_m}",
                    lambda side=side, index=index: checks.check_truthfulness(
                        "clarke", "budget", side, Bounds(direct_m), index=index, timeout_s=t if quick else max(t, 600.0)
                    ),
                )
            )
        out.append(
            Check(
                f"truthfulness {side}, any N, M<={max_abstract_m}",
                lambda side=side: induction.check_any_participants(side, max_abstract_m, timeout_s=t),
            )
        )
        out.append(
            Check(f"abstraction step {side}", lambda side=side: induction.check_abstraction(side, 3 if quick else 6, timeout_s=t))
        )
        out.append(Check(f"truthfulness {side}, any N, any M", lambda side=side: induction.check_every_m(side, timeout_s=t)))
    out.append(Check("fold invariants", lambda: induction.check_fold_invariants(timeout_s=t)))
    out.append(Check("budget balance, any N, any M", lambda: lifting.check_budget_balance_every_n_m(timeout_s=t)))
    out.append(Check("solvency, any N, any M", lambda: lifting.check_solvency_every_n_m(timeout_s=t)))

    combos = [("clarke", "budget")] if quick else [(r, p) for r in ("clarke", "paper") for p in ("budget", "midpoint", "uniform")]
    for rule, policy in combos:
        b = small if quick else Bounds(6)
        # Budget balance and accounting hold under every rule and policy (taxes >= 0, dust >= 0).
        out.append(Check(f"budget balance {rule}/{policy}", lambda rule=rule, policy=policy, b=b: checks.check_budget_balance(rule, policy, b, timeout_s=t)))
        out.append(Check(f"accounting {rule}/{policy}", lambda rule=rule, policy=policy, b=b: checks.check_accounting(rule, policy, b, timeout_s=t)))
        out.append(Check(f"shares {rule}/{policy}", lambda rule=rule, policy=policy, b=b: checks.check_shares_cover_the_budget(rule, policy, b, timeout_s=t)))
        # Solvency rests on tax_p <= n_p(x*) - n_p(y), i.e. on x* maximizing the welfare the tax counts:
        # SPEC expects it for clarke; under paper the tax counts only one side, so find out.
        out.append(
            Check(
                f"solvency {rule}/{policy}",
                lambda rule=rule, policy=policy, b=b: checks.check_solvency(rule, policy, b, expected=HOLDS if rule == "clarke" else OPEN, timeout_s=t),
            )
        )
        out.append(Check(f"efficiency {rule}/{policy}", lambda rule=rule, policy=policy, b=b: checks.check_efficiency(rule, policy, b, timeout_s=t)))
        out.append(Check(f"tie rule {rule}/{policy}", lambda rule=rule, policy=policy, b=b: checks.check_tie_rule(rule, policy, b, timeout_s=t)))
    for side in SIDES:
        # The recycled subsidy is fixed before the claims: truthfulness must survive it.
        out.append(
            Check(
                f"truthfulness clarke/budget {side}, subsidy, M={SUBSIDY_M}",
                lambda side=side: checks.check_truthfulness("clarke", "budget", side, Bounds(SUBSIDY_M), timeout_s=t, with_subsidy=True),
            )
        )
    if not quick:
        # Other weights (three owners, uneven stations): other roundings of the shares.
        wide = Bounds(4, (3, 5, 7), (1, 4))
        out.append(Check("budget balance, other weights", lambda: checks.check_budget_balance("clarke", "budget", wide, timeout_s=t)))
        out.append(Check("accounting, other weights", lambda: checks.check_accounting("clarke", "budget", wide, timeout_s=t)))
        out.append(Check("solvency, other weights", lambda: checks.check_solvency("clarke", "budget", wide, timeout_s=t)))
        out.append(Check("efficiency, other weights", lambda: checks.check_efficiency("clarke", "budget", wide, timeout_s=t)))
    if quick:
        out.append(Check("solvency paper/budget", lambda: checks.check_solvency("paper", "budget", tiny, expected=OPEN, timeout_s=t)))

    # SPEC section 9: the station bonus (owners untouched; a station's lie gains at most beta*max C + 1)
    out.append(Check("bonus: owners unchanged", lambda: bonus.check_owners_unchanged(Bounds(3 if quick else 4), timeout_s=t)))
    out.append(Check("bonus: station gain, any N, any M", lambda: bonus.check_bound_every_n_m(timeout_s=t)))
    out.append(Check("bonus: station gain, direct", lambda: bonus.check_bound_direct(Bounds(1 if quick else 2), timeout_s=t)))
    out.append(Check("bonus: the bound is nearly reached", lambda: bonus.check_bound_tight(timeout_s=t)))
    out.append(Check("bonus: budget balance", lambda: bonus.check_budget_balance_with_bonus(Bounds(1 if quick else 2), timeout_s=t)))
    out.append(Check("bonus: accounting", lambda: bonus.check_accounting_with_bonus(Bounds(3), timeout_s=t)))
    # a participant that never revealed: the earlier contract's rule is refuted, the code's proved
    for no_show in bonus.NO_SHOW_RULES:
        out.append(Check(f"bonus: solvency, no-shows {no_show}",
                         lambda no_show=no_show: bonus.check_solvency_with_bonus(Bounds(1 if quick else 2), no_show_rule=no_show,
                                                                                 timeout_s=t)))
    for side in SIDES:
        out.append(
            Check(f"ex-post IR {side}", lambda side=side: checks.check_individual_rationality("clarke", "budget", side, tiny, expected=FAILS, timeout_s=t))
        )
    for rule, policy in (("paper", "budget"), ("clarke", "midpoint"), ("clarke", "uniform")) + ((("paper", "midpoint"),) if not quick else ()):
        for side in SIDES:
            out.append(
                Check(
                    f"truthfulness {rule}/{policy} {side}",
                    lambda rule=rule, policy=policy, side=side: checks.check_truthfulness(
                        rule, policy, side, tiny, expected=_expected_truthful(rule, policy), timeout_s=t
                    ),
                )
            )
    return out


def ladder(side: str, start_after: int = REQUIRED_DIRECT_M) -> Iterator[Check]:
    """Direct truthfulness checks for growing ``M``, :data:`REACH_SECONDS` of CPU each.

    Beyond :data:`REQUIRED_DIRECT_M` a timeout is an answer (the reach), not a failure, so
    those rungs are ``open``; the caller stops at the first rung that is not proved.
    """
    for m in LADDER:
        if m <= start_after:
            continue
        yield Check(
            f"truthfulness clarke/budget {side}, direct M={m} (reach)",
            lambda m=m: checks.check_truthfulness(
                "clarke", "budget", side, Bounds(m), expected=OPEN, timeout_s=REACH_SECONDS * REACH_WALL_FACTOR, witness_first=False
            ),
        )


def run(quick: bool, timeout_s: float, on_start: Callable[[str], None] | None = None) -> Iterator[CheckResult]:
    """Run a suite, yielding results as they come (the full one ends with the ladders)."""
    for check in plan(quick, timeout_s):
        if on_start:
            on_start(check.label)
        yield check.run()
    if quick:
        return
    for side in SIDES:
        for check in ladder(side):
            if on_start:
                on_start(check.label)
            result = check.run()
            yield result
            if result.verdict != PROVED or (result.cpu_seconds or 0.0) > REACH_SECONDS:
                break
