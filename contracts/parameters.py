"""A deployment's parameters, each checked once, for every caller that sets them: ``hcfl
deploy``, ``hcfl localnet``, ``hcfl round`` and the simulation's ``Deployment.deploy``.

Each check raises ``ValueError`` naming the caller's field (``--phases``, ``phase_seconds``,
``--bonus-bps``, ...) and returns the value in the form the contract's constructor takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.constants import MAX_BPS

PHASE_NAMES = ("Register", "Propose", "Commit", "Reveal", "Train", "Vote")
"""The six phases that have a length, in order (Finalized has none)."""


def check_phase_seconds(values: Sequence[int], field: str = "phase_seconds") -> tuple[int, ...]:
    """Six positive whole numbers of seconds, Register..Vote."""
    ok = (not isinstance(values, (str, bytes)) and len(values) == len(PHASE_NAMES)
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values))
    if not ok:
        raise ValueError(f"{field}: expected six positive whole numbers of seconds "
                         f"({','.join(PHASE_NAMES)}), got {values!r}")
    return tuple(values)


def parse_phase_seconds(text: str, field: str = "--phases") -> tuple[int, ...]:
    """``check_phase_seconds`` of a comma-separated option such as ``600,600,600,600,7200,900``."""
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"{field}: expected six positive whole numbers of seconds "
                         f"({','.join(PHASE_NAMES)}), got {text!r}") from None
    return check_phase_seconds(values, field)


def check_bonus_bps(value: int, field: str = "bonus_bps") -> int:
    """SPEC section 9's station bonus fraction: a whole number of basis points, 0..10000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BPS:
        raise ValueError(f"{field}: expected 0..{MAX_BPS} basis points, got {value!r}")
    return value
