"""The recycled subsidy on chain: the pool pays at most the winner's budget, and what it does
not use goes back to the pool at close (SPEC section 5 steps 5 and 8), as
``mechanism.subsidy_used`` says."""

from __future__ import annotations

import boa
import pytest

from mechanism import deposit_bounds, settle, subsidy_used
from tests.contract_helpers import SALT, deploy, ledger


@pytest.fixture
def d():
    with boa.env.anchor():
        yield deploy(no_show_penalty=3)


def _round(d, budget: int, owner_claim: int, station_claim: int, owner_deposit: int = 1000) -> tuple[str, str]:
    owner, station = d.new_account(), d.new_account()
    d.register(owner, "owner", weight=1, deposit=owner_deposit)
    d.register(station, "station", weight=1, deposit=1000)
    d.next_phase()
    d.propose(owner, budget=budget, bond=5)
    d.next_phase()
    d.commit(owner, [owner_claim], SALT)
    d.commit(station, [station_claim], SALT)
    d.next_phase()
    d.reveal(owner)
    d.reveal(station)
    d.close()
    return owner, station


def test_a_subsidy_larger_than_the_winning_budget_pays_only_the_budget_and_returns_the_rest(d):
    # Round 1: the station blocks the only proposal and pays a tax of 50 into the pool.
    owner, station = _round(d, budget=0, owner_claim=50, station_claim=100)
    assert settle(budgets=[0], owner_weights=[1], station_weights=[1], owner_values=[[50]], station_costs=[[100]]).station_tax == [50]
    for a in (owner, station):
        d.settle(a)
    pool = d.pool()
    assert pool == 50
    d.start_round()
    # Round 2: a budget of 10 wins; the pool covers it and keeps the other 40. The owner's
    # share is 0 after the subsidy, so a deposit of exactly its claim (max b + max c = 30 + 0,
    # mechanism.deposit_bounds) lets it reveal.
    assert deposit_bounds([10], [1], [[30]], [[0]], subsidy=pool) == ([30], [0])
    _round(d, budget=10, owner_claim=30, station_claim=0, owner_deposit=30)
    used = subsidy_used(10, pool)
    assert d.closed().subsidy_used == used == 10
    assert d.pool() == pool - used
    assert ledger(d).balanced
