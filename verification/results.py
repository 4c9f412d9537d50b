"""Result objects of the checks (frozen, printable by the CLI, serializable to SPEC section 6).

A ``CheckResult`` says what was checked (property, rule, budget policy, side, bounds), the
verdict, the witness that was replayed through ``mechanism.settle`` (or ``None``) and the
solver time. ``expected`` records what SPEC section 4 predicts, so that the CLI can tell a
surprise from a confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verification.solver import PROVED, REFUTED, VERDICTS

HOLDS, FAILS, OPEN = "holds", "fails", "open"
"""Expectations: SPEC says it holds, SPEC says it fails, or SPEC asks us to find out."""

JSON_KEYS = ("property", "rule", "budget_policy", "side", "bounds", "verdict", "witness", "seconds")
"""The keys of one result in ``--json`` output, exactly (SPEC section 6)."""


class EncodingError(RuntimeError):
    """A z3 model that ``mechanism.settle`` does not reproduce: the encoding is wrong."""


@dataclass(frozen=True)
class CheckResult:
    """One property checked under one rule, budget policy, side and set of bounds."""

    property: str
    rule: str
    budget_policy: str
    side: str  # owner | station | all
    bounds: str
    verdict: str  # proved | refuted | unknown
    witness: dict[str, Any] | None
    seconds: float  # wall clock (the JSON's "seconds")
    expected: str = HOLDS
    cpu_seconds: float | None = None  # CPU time, the fair measure on a shared machine
    second_opinions: tuple[str, ...] = ()  # cvc5's re-checks of the unsat answers behind it

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: unknown value {self.verdict!r}, expected one of {', '.join(VERDICTS)}")
        if self.expected not in (HOLDS, FAILS, OPEN):
            raise ValueError(f"expected: unknown value {self.expected!r}")
        if self.verdict == REFUTED and self.witness is None:
            raise ValueError("witness: a refuted property must carry its replayed witness")

    @property
    def as_expected(self) -> bool:
        """False when the verdict contradicts SPEC's expectation (what makes the CLI exit 1).

        A property expected to hold must be proved (refuted or unknown both fail); one
        expected to fail must be refuted; an open question is answered either way.
        """
        if self.expected == HOLDS:
            return self.verdict == PROVED
        if self.expected == FAILS:
            return self.verdict == REFUTED
        return True

    def to_json(self) -> dict[str, Any]:
        """The SPEC section 6 object: exactly :data:`JSON_KEYS`."""
        return {
            "property": self.property,
            "rule": self.rule,
            "budget_policy": self.budget_policy,
            "side": self.side,
            "bounds": self.bounds,
            "verdict": self.verdict,
            "witness": self.witness,
            "seconds": round(self.seconds, 3),
        }
