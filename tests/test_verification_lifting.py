"""Budget balance and solvency for every N and M: proved on mechanism's own formulas, and
no longer proved once one of those formulas is broken."""

from __future__ import annotations

import pytest

import mechanism
from verification import lifting


def test_budget_balance_and_solvency_are_proved_for_every_n_and_m() -> None:
    assert lifting.check_budget_balance_every_n_m(timeout_s=30).verdict == "proved"
    assert lifting.check_solvency_every_n_m(timeout_s=30).verdict == "proved"


def test_an_owner_deposit_bound_without_the_share_is_not_proved_solvent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifting, "owner_deposit_bound", lambda claims, shares, maximum=max: maximum(list(claims)))
    result = lifting.check_solvency_every_n_m(timeout_s=30)
    assert result.verdict == "unknown"
    assert "owner owes at most its deposit" in result.bounds


def test_a_pool_that_pays_nothing_is_not_proved_budget_balanced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifting, "subsidy_used", lambda budget, subsidy, ops=mechanism.INT: 0)
    assert lifting.check_budget_balance_every_n_m(timeout_s=30).verdict == "unknown"


def test_a_negative_tax_is_not_proved_budget_balanced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifting, "tax_formula", lambda best, at_winner: at_winner - best)
    result = lifting.check_budget_balance_every_n_m(timeout_s=30)
    assert result.verdict == "unknown"
    assert "tax >= 0" in result.bounds
