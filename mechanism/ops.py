"""The few operations the mechanism's integer core is written over (one source, two meanings).

``mechanism`` computes shares, the choice, the taxes, the transfers and the subsidy once, in
functions that take an ``ops`` argument. Plain arithmetic (``+``, ``-``, ``*``, unary ``-``)
and comparisons are Python operators, which exact ``int``s and z3 integer terms both
support; everything that is *control* over a value (a conditional, a maximum, indexing a
per-outcome vector by the winner, integer division) goes through ``ops``:

- :data:`INT` (here) runs them on Python ints: ``settle`` itself.
- ``verification.z3ops.Z3`` builds z3 terms from the very same calls: the encoding the
  proofs are about **is** ``settle`` run on symbols, so a change to the core changes what
  is proved.

The layer is kept tiny on purpose (every member a one-liner) and the two implementations
are tested against each other on concrete values (``tests/test_verification_ops.py``).
The winner is ``ops.NONE`` for the outcome ``none`` (``None`` here, ``-1`` in z3); the value of
every per-proposal vector at ``none`` is 0 (SPEC section 3).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol


class Ops(Protocol):
    """What the core needs beyond Python's operators."""

    NONE: Any

    def index(self, m: int) -> Any: ...  # the winner value that means proposal ``m``

    def select(self, cond: Any, then: Any, other: Any) -> Any: ...  # ``then if cond else other``

    def floor_div(self, a: Any, d: Any) -> Any: ...  # exact floor of ``a / d`` for ``d > 0``

    def total(self, values: Sequence[Any]) -> Any: ...  # sum (0 when empty)

    def minimum(self, a: Any, b: Any) -> Any: ...

    def fold_max(self, start: Any, values: Sequence[Any]) -> Any: ...  # ``max(start, *values)``

    def max_of(self, values: Sequence[Any]) -> Any: ...  # ``max(values)``, at least one value

    def at(self, vec: Sequence[Any], winner: Any) -> Any: ...  # ``vec[winner]``, 0 at none

    def row_at(self, by_outcome: Sequence[Sequence[Any]], winner: Any, width: int) -> list[Any]: ...
    # ``by_outcome[winner]`` (a row of ``width`` values), zeros at none


class IntOps:
    """Exact Python-int operations: what ``settle`` runs (kept as builtins, for speed)."""

    NONE: None = None
    floor_div: Callable[[int, int], int] = staticmethod(operator.floordiv)  # type: ignore[assignment]
    total: Callable[[Sequence[int]], int] = staticmethod(sum)  # type: ignore[assignment]
    minimum: Callable[[int, int], int] = staticmethod(min)  # type: ignore[assignment]

    @staticmethod
    def index(m: int) -> int:
        return m

    @staticmethod
    def select(cond: bool, then: Any, other: Any) -> Any:
        return then if cond else other

    @staticmethod
    def fold_max(start: int, values: Sequence[int]) -> int:
        return max(start, max(values, default=start))

    @staticmethod
    def max_of(values: Sequence[int]) -> int:
        return max(values)

    @staticmethod
    def at(vec: Sequence[int], winner: int | None) -> int:
        return 0 if winner is None else vec[winner]

    @staticmethod
    def row_at(by_outcome: Sequence[Sequence[int]], winner: int | None, width: int) -> list[int]:
        return [0] * width if winner is None else list(by_outcome[winner])


INT = IntOps()
"""The integer operations (the default of every core function)."""
