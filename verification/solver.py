"""Solver wrapper: one obligation, one push/pop frame, fixed seed and timeout.

A check hands over the background facts (the encoding's domain and side conditions) and the
**negation** of its property. ``unsat`` means no counterexample exists (``proved``); ``sat``
means z3 found one (``refuted``, with the model); anything else (timeout, incompleteness) is
``unknown`` and is never reported as proved.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import z3

SEED = 0
"""Fixed random seed of every solver run, so that verdicts and times are reproducible."""

ARITH_SOLVER = 2
"""z3's ``arith.solver`` for every run. On the direct truthfulness check (nested ``If`` folds
over linear integer terms) solver 2 needed 2.5-4x less CPU than the default at M = 48
(owner 5.5 s vs 12.7 s, station 4.2 s vs 17.6 s on this project's 2-core machine)."""

PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
VERDICTS = (PROVED, REFUTED, UNKNOWN)


@dataclass(frozen=True)
class Solved:
    """What one solver run concluded about one negated property."""

    verdict: str  # proved | refuted | unknown
    model: z3.ModelRef | None  # the counterexample when refuted
    seconds: float  # wall clock
    reason: str  # z3's reason when unknown, else ""
    cpu_seconds: float = 0.0  # CPU time of this process (z3 runs in it): fair under load
    second: str = ""  # cvc5's re-check of an unsat answer: unsat | sat | unknown ("" not run)


@dataclass(frozen=True)
class SecondSolver:
    """Whether (and how long) cvc5 re-checks every unsat answer; off unless the CLI asks."""

    timeout_s: float | None = None


_second = SecondSolver()


def use_second_solver(timeout_s: float | None) -> None:
    """Turn cvc5's re-check of unsat answers on (a time limit per obligation) or off (None).

    A process-wide setting, because every check's obligations go through :func:`solve`;
    only the CLI sets it.
    """
    global _second
    if timeout_s is not None and timeout_s <= 0:
        raise ValueError(f"timeout_s: must be positive, got {timeout_s}")
    _second = SecondSolver(timeout_s)


def solve(
    background: Sequence[z3.BoolRef],
    negated_property: z3.BoolRef,
    *,
    timeout_s: float,
    seed: int = SEED,
    logic: str | None = None,
) -> Solved:
    """Search for a model of ``background`` and ``negated_property``.

    The background is asserted once and the negated property inside its own push/pop frame,
    so a check never leaks assertions into the next one. ``logic`` (e.g. ``"QF_NIA"``) picks
    z3's solver for that logic: the quantifier-free nonlinear lemmas of the bonus (divisions
    by a symbolic total weight) are instant there and out of reach of the default one.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: must be positive, got {timeout_s}")
    solver = z3.SolverFor(logic) if logic else z3.Solver()
    solver.set("random_seed", seed)
    if not logic:
        solver.set("arith.solver", ARITH_SOLVER)
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    solver.add(*background)
    solver.push()
    solver.add(negated_property)
    start, cpu_start = time.perf_counter(), time.process_time()
    answer = solver.check()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    try:
        if answer == z3.unsat:
            if _second.timeout_s is None:
                return Solved(PROVED, None, seconds, "", cpu)
            from verification.second_solver import DISAGREES, cvc5_verdict

            other = cvc5_verdict([*background, negated_property], timeout_s=_second.timeout_s)
            if other == DISAGREES:  # two solvers disagree: certainly not a proof
                return Solved(UNKNOWN, None, seconds, "cvc5 disagrees: sat", cpu, other)
            return Solved(PROVED, None, seconds, "", cpu, other)
        if answer == z3.sat:
            return Solved(REFUTED, solver.model(), seconds, "", cpu)
        return Solved(UNKNOWN, None, seconds, solver.reason_unknown(), cpu)
    finally:
        solver.pop()


def consistency(background: Sequence[z3.BoolRef], *, timeout_s: float, seed: int = SEED, logic: str | None = None) -> Solved:
    """Guard against vacuous proofs: ``proved`` when the hypotheses have a model.

    A proof whose hypotheses contradict each other proves nothing, so every obligation with
    hypotheses (the inductive steps) is paired with this check; ``refuted`` here means the
    hypotheses are inconsistent.
    """
    answer = solve(background, z3.BoolVal(True), timeout_s=timeout_s, seed=seed, logic=logic)
    flipped = {PROVED: REFUTED, REFUTED: PROVED, UNKNOWN: UNKNOWN}[answer.verdict]
    return Solved(flipped, answer.model, answer.seconds, answer.reason, answer.cpu_seconds)
