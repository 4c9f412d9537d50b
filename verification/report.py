"""Report layer: results -> a rich table, a JSON document and a verdict for the exit code.

Nothing here prints; the CLI (``verification.check``) decides where the table goes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from verification.results import JSON_KEYS, CheckResult
from verification.solver import PROVED, REFUTED

_STYLE = {PROVED: "green", REFUTED: "red", "unknown": "yellow"}


def witness_summary(witness: dict[str, Any] | None) -> str:
    """A one-line digest of a replayed witness (the full object goes to ``--json``)."""
    if witness is None:
        return ""
    p = witness["profile"]
    claims = f"b={p['owner_values']} k={p['station_costs']}"
    budgets = f"C={p['budgets']}" if p.get("budgets") is not None else f"C by {p['budget_policy']}"
    seed = f" seed={p['seed']}" if "seed" in p else ""
    if "lie" in witness:
        head = (
            f"{witness['side']} {witness['index']} lies {witness['lie']}: "
            f"utility {witness['truthful_utility']} -> {witness['lie_utility']}"
        )
    else:
        extra = {k: v for k, v in witness.items() if k not in ("profile", "rule", "budget_policy")}
        head = ", ".join(f"{k}={v}" for k, v in extra.items())
    return f"{head}; {budgets} w={p['owner_weights']} u={p['station_weights']} {claims}{seed}"


def table(results: Sequence[CheckResult], title: str = "HCFL: z3 checks of SPEC section 4") -> Table:
    """The results as a rich table, one row per check."""
    t = Table(title=title, show_lines=False)
    for name in ("property", "rule", "budget_policy", "side", "bounds", "verdict", "witness (replayed)", "seconds", "cpu s"):
        t.add_column(name, overflow="fold", justify="right" if name in ("seconds", "cpu s") else "left")
    for r in results:
        verdict = f"[{_STYLE[r.verdict]}]{r.verdict}[/]"
        if not r.as_expected:
            verdict += f" [bold red](expected: {r.expected})[/]"
        cpu = "" if r.cpu_seconds is None else f"{r.cpu_seconds:.2f}"
        t.add_row(r.property, r.rule, r.budget_policy, r.side, r.bounds, verdict, witness_summary(r.witness), f"{r.seconds:.2f}", cpu)
    return t


def failures(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Results that contradict SPEC's expectation (a non-empty list means exit status 1)."""
    return [r for r in results if not r.as_expected]


_DIRECT = re.compile(r"^M=(\d+);")


def direct_reach(results: Sequence[CheckResult], side: str, seconds: float) -> int | None:
    """Largest ``M`` at which the direct clarke/budget truthfulness check of ``side`` was
    proved within ``seconds`` of CPU time (wall time when CPU time is not known; ``None``:
    no such row). CPU time, because the machine these checks run on is shared."""
    best = None
    for r in results:
        match = _DIRECT.match(r.bounds)
        if (
            match
            and (r.property, r.rule, r.budget_policy, r.side, r.verdict) == ("truthfulness", "clarke", "budget", side, PROVED)
            and (r.seconds if r.cpu_seconds is None else r.cpu_seconds) <= seconds
        ):
            best = max(best or 0, int(match.group(1)))
    return best


def to_json(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """SPEC section 6: a list of objects with exactly :data:`JSON_KEYS`."""
    docs = [r.to_json() for r in results]
    assert all(tuple(d) == JSON_KEYS for d in docs)
    return docs


def write_json(results: Sequence[CheckResult], path: Path) -> None:
    path.write_text(json.dumps(to_json(results), indent=2) + "\n")
