"""The mutant runner: every mistake it lists applies to today's code, a missing pattern fails
loudly, and the proofs kill the mistakes the review found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verification import mutants
from verification.mutants import ALL_MUTANTS, CHECKS, CONTRACT_MUTANTS, MECHANISM_MUTANTS, ROOT, Mutant


def test_there_are_at_least_25_mutants_with_distinct_names_and_known_checks() -> None:
    assert len(ALL_MUTANTS) >= 25
    assert len({m.name for m in ALL_MUTANTS}) == len(ALL_MUTANTS)
    assert all(c in CHECKS for m in ALL_MUTANTS for c in m.checks)
    assert {m.path for m in CONTRACT_MUTANTS} == {"contracts/HCFL.vy", "contracts/HCFLTraining.vy"}
    assert all(m.path.startswith("mechanism/") for m in MECHANISM_MUTANTS)


@pytest.mark.parametrize("mutant", ALL_MUTANTS, ids=lambda m: m.name)
def test_every_mutant_pattern_occurs_exactly_once_in_todays_code(mutant: Mutant) -> None:
    # A contract change in main makes this fail loudly: re-target the row in CONTRACT_MUTANTS.
    for path, old, new in mutant.edits():
        text = (ROOT / path).read_text()
        mutated, problem = mutants._replace_once(text, old, new)
        assert problem is None, f"{mutant.name}: {problem} in {path}"
        assert mutated != text


def test_a_missing_pattern_is_reported_not_found_and_runs_no_check() -> None:
    ghost = Mutant("ghost", "mechanism/clarke.py", "this text is not in the file", "x", ("verification --quick",))
    ran: list[str] = []
    result = mutants.run_mutant(ghost, runner=lambda check, tree: ran.append(check.name) or True)
    assert result.status == "pattern not found"
    assert ran == []


def test_a_mutant_no_check_fails_survives_and_the_first_failing_check_is_named() -> None:
    first = MECHANISM_MUTANTS[0]
    survived = mutants.run_mutant(first, runner=lambda check, tree: True)
    assert survived.status == "survived" and survived.killed_by == ()
    killed = mutants.run_mutant(first, runner=lambda check, tree: check.name != "mechanism tests")
    assert killed.status == "killed" and killed.killed_by == ("mechanism tests",)


def test_the_mutated_copy_is_a_copy_and_the_real_tree_is_untouched() -> None:
    before = (ROOT / "mechanism/clarke.py").read_text()
    seen: list[str] = []

    def look(check: mutants.Check, tree: Path) -> bool:
        seen.append((tree / "mechanism/clarke.py").read_text())
        return True

    mutants.run_mutant(MECHANISM_MUTANTS[0], runner=look)
    assert seen and seen[0] != before
    assert (ROOT / "mechanism/clarke.py").read_text() == before


@pytest.mark.parametrize("name", ["tax max without none", "ties to the highest index"])
def test_the_quick_verification_kills_the_reviews_mutants(name: str) -> None:
    (mutant,) = [m for m in ALL_MUTANTS if m.name == name]
    only_proofs = Mutant(mutant.name, mutant.path, mutant.old, mutant.new, ("verification --quick",))
    result = mutants.run_mutant(only_proofs)
    assert result.status == "killed", result


@pytest.mark.slow
def test_the_ci_subset_of_mutants_is_all_killed(tmp_path: Path) -> None:
    out = tmp_path / "mutants.json"
    proc = subprocess.run([sys.executable, "-m", "verification.mutants", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {r["status"] for r in json.loads(out.read_text())} == {"killed"}


def test_every_check_is_a_pytest_or_module_command_line_with_its_marker_expression_after_dash_m() -> None:
    for check in CHECKS.values():
        argv = list(check.argv)
        assert argv[:2] in (["-m", "pytest"], ["-m", "verification.check"]), check.name
        if argv[1] == "pytest":
            marker = argv[argv.index("-m", 2) + 1]
            assert marker.startswith("not slow"), check.name
            paths = [a for a in argv if a.startswith("tests/")]
            assert paths and all((ROOT / a).is_file() for a in paths), check.name
            assert argv[argv.index(paths[0]) - 1].startswith("--"), check.name  # options end before the paths
