"""Helpers of the contract tests: a deployment on titanoboa, the balance equation read from
chain state, and ``mechanism.settle`` of a round with non-revealers and a subsidy (what the
contract must reproduce)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts import Deployment
from contracts.constants import BOND_HELD, BOND_RELEASED
from mechanism import Outcome, settle

SALT = b"\x11" * 32


def deploy(**kwargs) -> Deployment:
    """A fresh deployment on titanoboa's embedded EVM."""
    return Deployment.deploy(None, **kwargs)


@dataclass(frozen=True)
class Ledger:
    """Where every wei of the contract is, read from chain state."""

    balance: int
    withdrawable: int
    held: int
    pool: int

    @property
    def balanced(self) -> bool:
        return self.balance == self.withdrawable + self.held + self.pool


def ledger(d: Deployment, done: set | None = None) -> Ledger:
    """``balance``, ``withdrawable``, ``held`` and ``pool`` over every round of ``d``.

    Participants and proposals are found from the events; their state from the contract.
    ``done`` may name ``(round, participant)`` and ``(round, proposal index)`` keys known to
    hold nothing any more (withdrawn), which are then not read again (a speed-up for long
    stateful runs).
    """
    done = done or set()
    withdrawable = held = 0
    rounds = range(1, int(d.chain.call("current_round", [])) + 1)
    for ev in d.events("Registered"):
        r, who = int(ev.args["round_id"]), ev.args["participant"]
        if (r, who) in done:
            continue
        p = d.participant(who, r)
        withdrawable += p.withdrawable
        held += p.held
    for ev in d.events("Proposed"):
        r, m = int(ev.args["round_id"]), int(ev.args["index"])
        if (r, m) in done:
            continue
        prop = d.proposal(m, r)
        if prop.bond_state == BOND_HELD:
            held += prop.bond
        elif prop.bond_state == BOND_RELEASED:
            withdrawable += prop.bond
    for r in rounds:
        held += int(d.chain.call("held_float", [r]))
    return Ledger(d.contract_balance(), withdrawable, held, d.pool())


def expected_round(
    budgets: Sequence[int],
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    owner_claims: Sequence[Sequence[int] | None],
    station_claims: Sequence[Sequence[int] | None],
    subsidy: int = 0,
) -> Outcome:
    """``mechanism.settle`` of a round in which ``None`` claims (participants that did not
    reveal) count as zeros, as the contract counts them (SPEC section 5 step 4)."""
    zeros = [0] * len(budgets)
    return settle(
        budgets=list(budgets),
        owner_weights=list(owner_weights),
        station_weights=list(station_weights),
        owner_values=[list(c) if c is not None else zeros for c in owner_claims],
        station_costs=[list(c) if c is not None else zeros for c in station_claims],
        subsidy=subsidy,
    )
