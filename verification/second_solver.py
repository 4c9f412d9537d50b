"""A second solver: cvc5 re-checks what z3 found unsat, from the same SMT-LIB text.

z3 writes the obligation (background and negated property) as SMT-LIB 2; cvc5's own parser
reads it and cvc5 decides it under a short time limit. ``unsat`` agrees; ``sat`` is a
disagreement (the obligation is then not reported as proved); ``unknown`` (a timeout, or a
formula cvc5 gives up on) means only that the re-check was not cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

AGREES, DISAGREES, NOT_CHECKED = "unsat", "sat", "unknown"


def smtlib(assertions: Sequence[z3.BoolRef]) -> str:
    """The assertions as an SMT-LIB 2 script without its ``check-sat`` (we ask ourselves)."""
    solver = z3.Solver()
    solver.add(*assertions)
    return "\n".join(line for line in solver.to_smt2().splitlines() if line.strip() != "(check-sat)")


def cvc5_verdict(assertions: Sequence[z3.BoolRef], *, timeout_s: float) -> str:
    """cvc5's answer on the conjunction of ``assertions``: ``unsat``, ``sat`` or ``unknown``."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: must be positive, got {timeout_s}")
    import cvc5

    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    solver.setOption("tlimit-per", str(max(1, int(timeout_s * 1000))))
    solver.setLogic("ALL")
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, smtlib(assertions), "obligation")
    symbols = parser.getSymbolManager()
    try:
        while True:
            command = parser.nextCommand()
            if command.isNull():
                break
            command.invoke(solver, symbols)
        result = solver.checkSat()
    except RuntimeError:  # a construct cvc5 does not read: not a disagreement, just not checked
        return NOT_CHECKED
    if result.isUnsat():
        return AGREES
    if result.isSat():
        return DISAGREES
    return NOT_CHECKED
