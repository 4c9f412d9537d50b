"""Input checks for the reference mechanism (SPEC section 6).

Every public entry point runs its inputs through these helpers first, so that a bad
profile fails loudly with a ``ValueError`` that names the field, before any money is
computed. Money is exact: only Python ``int`` is accepted (never ``bool`` or ``float``).
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_AMOUNT = 2**96 - 1
"""Largest claim, budget or weight the mechanism (and the contract) accepts."""

RULES = ("clarke", "paper")
BUDGET_POLICIES = ("budget", "midpoint", "uniform")


def check_int(field: str, value: object, *, minimum: int, maximum: int = MAX_AMOUNT) -> int:
    """Return ``value`` if it is an int in ``[minimum, maximum]``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: expected an integer amount, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{field}: {value} is below the minimum {minimum}")
    if value > maximum:
        raise ValueError(f"{field}: {value} exceeds the maximum 2**96-1")
    return value


def check_vector(field: str, values: object, *, minimum: int, length: int | None = None) -> list[int]:
    """Check a flat list of integer amounts; ``length`` (if given) must match."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{field}: expected a list of integers, got {type(values).__name__}")
    if length is not None and len(values) != length:
        raise ValueError(f"{field}: expected {length} entries, got {len(values)}")
    return [check_int(f"{field}[{k}]", v, minimum=minimum) for k, v in enumerate(values)]


def check_matrix(field: str, rows: object, *, n_rows: int, n_cols: int) -> list[list[int]]:
    """Check an ``n_rows x n_cols`` matrix of non-negative integer claims (no ragged rows)."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError(f"{field}: expected a list of rows, got {type(rows).__name__}")
    if len(rows) != n_rows:
        raise ValueError(f"{field}: expected {n_rows} rows (one per participant), got {len(rows)}")
    out = []
    for r, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ValueError(f"{field}[{r}]: expected a list of claims, got {type(row).__name__}")
        if len(row) != n_cols:
            raise ValueError(
                f"{field}[{r}]: ragged matrix, expected {n_cols} claims (one per proposal), got {len(row)}"
            )
        out.append([check_int(f"{field}[{r}][{m}]", v, minimum=0) for m, v in enumerate(row)])
    return out


def check_choice(field: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{field}: unknown value {value!r}, expected one of {', '.join(allowed)}")
    return value  # type: ignore[return-value]


def check_profile(
    budgets: object,
    owner_weights: object,
    station_weights: object,
    owner_values: object,
    station_costs: object,
    *,
    budgets_required: bool = True,
) -> tuple[list[int] | None, list[int], list[int], list[list[int]], list[list[int]]]:
    """Check a whole profile (SPEC section 6) and return it as exact lists.

    ``budgets`` may be ``None`` only when ``budgets_required`` is False (the claim-computed
    budget policies); the number of proposals is then read from the owners' claims.
    """
    ow = check_vector("owner_weights", owner_weights, minimum=1)
    sw = check_vector("station_weights", station_weights, minimum=1)
    if not ow:
        raise ValueError("owner_weights: no owners; at least one owner must take part")
    if not sw:
        raise ValueError("station_weights: no stations; at least one station must take part")
    if budgets_required or budgets is not None:
        bud: list[int] | None = check_vector("budgets", budgets, minimum=0)
        n_props = len(bud)
    else:
        bud = None
        first = owner_values[0] if isinstance(owner_values, Sequence) and owner_values else []
        n_props = len(first) if isinstance(first, Sequence) else 0
    if n_props == 0:
        raise ValueError("budgets: no proposals; at least one proposal is needed")
    values = check_matrix("owner_values", owner_values, n_rows=len(ow), n_cols=n_props)
    costs = check_matrix("station_costs", station_costs, n_rows=len(sw), n_cols=n_props)
    return bud, ow, sw, values, costs
