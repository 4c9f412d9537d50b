"""The z3 implementation of ``mechanism.ops``: the same core, run on integer terms.

``mechanism.settle_core(..., ops=Z3)`` returns z3 terms for every share, the winner, every
tax and every transfer: the encoding the checks reason about is the reference's own code.

- ``floor_div`` is SMT-LIB ``div``, which is Euclidean (``a = d*q + r``, ``0 <= r < |d|``), i.e.
  exactly ``floor`` for a positive divisor; with the weights concrete ``C*w`` stays linear.
- a conditional is ``If``, a maximum the fold of ``If(v > best, v, best)`` (the same strict
  comparison ``max`` makes: the value is the same either way);
- the winner is an integer term, :data:`NONE` (``-1``) for ``none``; a vector at the winner is
  ``Sum(If(winner == m, v[m], 0))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import z3

NONE = -1
"""Index standing for the outcome ``none`` in the winner term."""


def _is_term(x: Any) -> bool:
    return isinstance(x, z3.ExprRef)


class Z3Ops:
    """``mechanism.ops.Ops`` on z3 integer terms (Python ints mix in as literals)."""

    NONE = z3.IntVal(NONE)

    @staticmethod
    def index(m: int) -> z3.ArithRef:
        return z3.IntVal(m)

    @staticmethod
    def select(cond: Any, then: Any, other: Any) -> Any:
        return z3.If(cond, then, other)

    @staticmethod
    def floor_div(a: Any, d: Any) -> Any:
        if isinstance(d, int) and d <= 0:
            raise ValueError(f"d: divisor must be a positive integer, got {d}")
        if not _is_term(a) and not _is_term(d):
            return a // d  # two literals: Python's floor, never true division
        return a / d

    @staticmethod
    def total(values: Sequence[Any]) -> Any:
        items = list(values)
        return z3.Sum(items) if any(_is_term(v) for v in items) else sum(items)

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return z3.If(b < a, b, a)

    @staticmethod
    def fold_max(start: Any, values: Sequence[Any]) -> Any:
        best = start
        for v in values:
            best = z3.If(v > best, v, best)
        return best

    @classmethod
    def max_of(cls, values: Sequence[Any]) -> Any:
        items = list(values)
        if not items:
            raise ValueError("values: the maximum of no values is undefined")
        return cls.fold_max(items[0], items[1:])

    @staticmethod
    def at(vec: Sequence[Any], winner: Any) -> Any:
        return z3.Sum([z3.If(winner == m, v, 0) for m, v in enumerate(vec)]) if len(vec) else z3.IntVal(0)

    @classmethod
    def row_at(cls, by_outcome: Sequence[Sequence[Any]], winner: Any, width: int) -> list[Any]:
        return [cls.at([row[i] for row in by_outcome], winner) for i in range(width)]


Z3 = Z3Ops()
"""The z3 operations: pass as ``ops=`` to any core function of ``mechanism``."""
