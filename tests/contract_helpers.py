"""Helpers of the contract tests: a deployment on titanoboa, a round driven from a profile,
the balance equation read from chain state, and the reference outcome of a round with
non-revealers and a subsidy (what the contract must reproduce)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts import Deployment
from contracts.driver import STATUS_SETTLED, STATUS_WITHDRAWN
from mechanism import choose, clarke_tax, cost_shares, others_welfare, reward_shares

BOND_HELD, BOND_RELEASED = 0, 1
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
        if p["status"] & STATUS_SETTLED:
            if not p["status"] & STATUS_WITHDRAWN:
                withdrawable += p["amount"]
        else:
            held += p["amount"]
    for ev in d.events("Proposed"):
        r, m = int(ev.args["round_id"]), int(ev.args["index"])
        if (r, m) in done:
            continue
        prop = d.chain.call("proposals", [r, m])
        bond, state = int(prop[1]), int(prop[2])
        if state == BOND_HELD:
            held += bond
        elif state == BOND_RELEASED:
            withdrawable += bond
    for r in rounds:
        held += int(d.chain.call("held_float", [r]))
    return Ledger(d.contract_balance(), withdrawable, held, d.pool())


@dataclass(frozen=True)
class Expected:
    """The reference outcome of one round (SPEC section 3) with the contract's extras."""

    winner: int | None
    owner_tax: list[int]
    station_tax: list[int]
    owner_share: list[int]
    station_share: list[int]


def expected_round(
    budgets: Sequence[int],
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    owner_claims: Sequence[Sequence[int] | None],
    station_claims: Sequence[Sequence[int] | None],
    subsidy: int = 0,
) -> Expected:
    """Reference outcome where ``None`` claims (non-revealers) count as zeros and the
    subsidy lowers every owner cost share: ``c = ceil((C - min(subsidy, C)) w / W)``."""
    M = len(budgets)
    oc = [c if c is not None else [0] * M for c in owner_claims]
    sc = [c if c is not None else [0] * M for c in station_claims]
    c_by_m = [cost_shares(C - min(subsidy, C), owner_weights) for C in budgets]
    r_by_m = [reward_shares(C, station_weights) for C in budgets]
    welfare = [sum(row[m] for row in oc) - sum(row[m] for row in sc) for m in range(M)]
    w = choose(welfare)
    otax = [
        clarke_tax(others_welfare(welfare, [oc[i][m] - c_by_m[m][i] for m in range(M)]), w)
        for i in range(len(oc))
    ]
    stax = [
        clarke_tax(others_welfare(welfare, [r_by_m[m][j] - sc[j][m] for m in range(M)]), w)
        for j in range(len(sc))
    ]
    osh = [0] * len(oc) if w is None else [c_by_m[w][i] for i in range(len(oc))]
    ssh = [0] * len(sc) if w is None else [r_by_m[w][j] for j in range(len(sc))]
    return Expected(w, otax, stax, osh, ssh)
