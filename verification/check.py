"""CLI: ``python -m verification.check [--quick] [--json FILE] [--timeout S]``.

Runs the z3 checks of SPEC section 4 over the exact encoding of sections 2-3, prints one
table row per check (property, rule, budget policy, side, bounds, verdict, replayed witness,
seconds) and exits 1 when a verdict contradicts SPEC: a property expected to hold that is
refuted or unknown, or ex-post IR (expected to fail) that is not refuted. ``--quick`` is
the CI suite (under a minute on two cores); without it the full suite also climbs the
direct-check ladder of ``M``.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from verification import report, solver, suite
from verification.results import EncodingError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m verification.check",
        description=(
            "Prove with z3 the properties of SPEC section 4 for the exact HCFL settlement "
            "(truthfulness for every number of participants and proposals, budget balance, "
            "exact accounting, solvency, efficiency) and show replayed witnesses for what fails "
            "(ex-post IR; the paper rule and claim-dependent budgets)."
        ),
    )
    p.add_argument("--quick", action="store_true", help="the small suite run in CI (under 60 s on 2 cores)")
    p.add_argument("--json", metavar="FILE", type=Path, help="also write the results as JSON (SPEC section 6 keys)")
    p.add_argument(
        "--timeout", metavar="S", type=float, default=60.0, help="z3 time limit per check in seconds (default 60)"
    )
    p.add_argument(
        "--second-solver", metavar="S", type=float, default=None,
        help="re-check every unsat answer with cvc5, S seconds each; a disagreement is unknown, never proved",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout: must be positive, got {args.timeout}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: directory {str(args.json.parent)!r} does not exist")
    if args.second_solver is not None:
        if args.second_solver <= 0:
            parser.error(f"--second-solver: must be positive, got {args.second_solver}")
        solver.use_second_solver(args.second_solver)
    console = Console()
    if not console.is_terminal:  # a pipe or a CI log: do not squeeze the table into 80 columns
        console = Console(width=240)
    results = []
    start = time.perf_counter()
    live = console.is_terminal
    try:
        with console.status("z3 ...") if live else nullcontext() as status:
            on_start = (lambda label: status.update(f"z3: {label}")) if live else None
            for result in suite.run(args.quick, args.timeout, on_start=on_start):
                results.append(result)
                if not live:  # a log: one line per finished check, so a long run shows progress
                    console.print(
                        f"{result.property} | {result.rule}/{result.budget_policy} | {result.side} | "
                        f"{result.bounds} | {result.verdict} | {result.seconds:.2f} s (cpu {result.cpu_seconds or 0.0:.2f} s)",
                        highlight=False,
                    )
    except EncodingError as exc:
        console.print(f"[bold red]encoding error:[/] {exc}")
        return 2
    console.print(report.table(results))
    for side in suite.SIDES:
        reach = report.direct_reach(results, side, suite.REACH_SECONDS)
        console.print(
            f"direct bounded truthfulness ({side}): proved up to M={reach} within {suite.REACH_SECONDS:.0f} s of CPU per check"
        )
    console.print(f"{len(results)} checks in {time.perf_counter() - start:.1f} s")
    if args.second_solver is not None:
        opinions = [o for r in results for o in r.second_opinions]
        console.print(
            f"cvc5 re-checked {len(opinions)} unsat answers: {opinions.count('unsat')} agree, "
            f"{opinions.count('sat')} disagree, {opinions.count('unknown')} not decided within {args.second_solver:g} s"
        )
    if args.json is not None:
        report.write_json(results, args.json)
        console.print(f"wrote {args.json}")
    bad = report.failures(results)
    for r in bad:
        console.print(f"[bold red]unexpected:[/] {r.property} ({r.rule}/{r.budget_policy}, {r.side}): {r.verdict}, expected {r.expected}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
