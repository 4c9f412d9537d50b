"""cvc5 re-checks z3's unsat answers: it agrees on the suite's obligations, and a
disagreement turns a proof into unknown."""

from __future__ import annotations

import importlib

import pytest
import z3

import mechanism
from verification import checks, second_solver, solver
from verification.checks import Bounds

pytest.importorskip("cvc5")


@pytest.fixture
def with_cvc5():
    solver.use_second_solver(10.0)
    yield
    solver.use_second_solver(None)


def test_cvc5_reads_z3s_smtlib_and_decides_it() -> None:
    x = z3.Int("x")
    assert second_solver.cvc5_verdict([x > 0, x / 3 > 5, x < 10], timeout_s=5) == "unsat"
    assert second_solver.cvc5_verdict([x > 0, x < 10], timeout_s=5) == "sat"


def test_cvc5_agrees_that_budget_balance_holds(with_cvc5: None) -> None:
    result = checks.check_budget_balance("clarke", "budget", Bounds(2), timeout_s=30)
    assert result.verdict == "proved"
    assert result.second_opinions == ("unsat",)


def test_a_disagreement_of_the_second_solver_is_unknown_never_proved(with_cvc5: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(second_solver, "cvc5_verdict", lambda assertions, timeout_s: "sat")
    x = z3.Int("x")
    answer = solver.solve([x > 0], x < 0, timeout_s=5)
    assert answer.verdict == "unknown"
    assert "cvc5 disagrees" in answer.reason


def test_owners_shares_that_ignore_the_subsidy_do_not_cover_the_budget_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    shares = importlib.import_module("mechanism.shares")
    settle_module = importlib.import_module("mechanism.settle")
    monkeypatch.setattr(settle_module, "owner_budget", lambda budget, subsidy, ops=mechanism.INT: budget)
    assert shares.owner_budget(5, 3) == 2  # only settle_core's view is broken
    result = checks.check_shares_cover_the_budget("clarke", "budget", Bounds(1), timeout_s=30)
    assert result.verdict == "refuted"
