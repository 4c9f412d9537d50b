"""The reconciliation of every wei of a round: what each participant withdrew against what
the reference says it pays or receives, every released bond, the recycle pool and the
contract's balance (SPEC section 5 step 8: ``balance == withdrawable + held + pool``).

One function for every caller that plays a round (``hcfl round`` in one process, ``hcfl
localnet`` among agents): it reads the round's view (``contracts.round_view``), never what
the caller remembers sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from contracts.constants import BOND_RELEASED, BOND_WITHDRAWN
from contracts.round_view import Member, PoolLedger, RoundView
from mechanism import Outcome


class Line(NamedTuple):
    """One participant (``owner i``, ``station j``) or one bond (``bond m``)."""

    who: str
    withdrawn: int | None  # every withdrawal added up; None: nothing withdrawn yet
    expected: int  # what the reference says it is owed
    address: str = ""


@dataclass(frozen=True)
class Reconciliation:
    """Every withdrawal vs the reference, to the wei, and where the rest of the money is."""

    rows: list[Line]
    pool: int  # the contract's recycle pool after the round
    expected_pool: int  # what was left of the subsidy + the surplus (+ the bond, if slashed)
    contract_balance: int  # what the contract still holds
    expected_balance: int  # the pool + what is owed and not yet withdrawn

    @property
    def withdrawals_match(self) -> bool:
        return all(r.withdrawn is None or r.withdrawn == r.expected for r in self.rows)

    @property
    def ok(self) -> bool:
        return (self.withdrawals_match and self.pool == self.expected_pool
                and self.contract_balance == self.expected_balance)


def released_bonds(d: Any, view: RoundView) -> list[bool]:
    """Whether each proposal's bond of round ``view`` was released (or withdrawn), read from
    the deployment client ``d`` (a ``contracts.client.DeploymentClient``)."""
    return [d.proposal(k, view.round_id).bond_state in (BOND_RELEASED, BOND_WITHDRAWN)
            for k in range(len(view.proposals))]


def expected_payout(m: Member, reference: Outcome | None, penalty: int) -> int:
    """What member ``m`` is owed after the round: its deposit less what it pays (an owner) or
    plus what it receives (a station), less the no-show ``penalty`` if it never revealed;
    its deposit back when the round has no outcome (``reference`` None)."""
    if reference is None:
        return m.deposit
    no_show = penalty if m.revealed is None else 0
    if m.role == "owner":
        return m.deposit - reference.owner_pays[m.index] - no_show
    return m.deposit + reference.station_receives[m.index] - no_show


def reconcile(view: RoundView, reference: Outcome | None, *, penalty: int, released: Sequence[bool], pool: int,
              balance: int) -> Reconciliation:
    """The reconciliation of round ``view`` against ``reference`` (``mechanism.settle`` on
    what was revealed, with the reported contributions for a bonus); ``released``: whether
    each proposal's bond was released (or withdrawn); ``pool`` and ``balance``: the
    contract's, read after the round."""
    rows = [Line(f"{m.role} {m.index}", m.withdrawn, expected_payout(m, reference, penalty), m.address)
            for m in (*view.owners, *view.stations)]
    rows += [Line(f"bond {k}", view.bond_withdrawals.get(k), p.bond, p.proposer)
             for k, (p, free) in enumerate(zip(view.proposals, released)) if free]
    surplus = reference.surplus if reference is not None else 0  # taxes are paid at none too
    winning = view.winning_proposal
    slashed_bond = winning.bond if view.slashed and winning is not None else 0
    subsidy_left = view.subsidy - (view.closed.subsidy_used if view.closed is not None else 0)
    expected_pool = subsidy_left + surplus + slashed_bond
    held = sum(r.expected for r in rows if r.withdrawn is None)
    return Reconciliation(rows, pool, expected_pool, balance, expected_pool + held)


@dataclass(frozen=True)
class DeploymentReconciliation:
    """Every round of a deployment reconciled: each round's withdrawals against its reference
    (with the subsidy it was announced), what it put into the recycle pool against what it
    should have (``contracts.round_view.pool_ledger``: its flows, whenever they came), every
    round's subsidy and the pool now against those flows; and the contract's balance now
    against the pool now plus what every round still owes."""

    rounds: list[Reconciliation]
    pool: int  # the contract's pool now
    ledger_pool: int  # what the flows add up to
    mismatches: tuple[str, ...]  # a subsidy the flows before it do not add up to
    contract_balance: int
    expected_balance: int

    @property
    def ok(self) -> bool:
        return (all(r.withdrawals_match and r.pool == r.expected_pool for r in self.rounds) and not self.mismatches
                and self.pool == self.ledger_pool and self.contract_balance == self.expected_balance)


def reconcile_rounds(views: Sequence[RoundView], references: Sequence[Outcome | None], *, penalty: int,
                     released: Sequence[Sequence[bool]], ledger: PoolLedger, pool: int,
                     balance: int) -> DeploymentReconciliation:
    """``reconcile`` for every round of a deployment, in order (``views``: every round, from the
    logs; ``references``: each round's ``mechanism.settle``; ``released``: each round's bonds;
    ``ledger``: the pool's flows, ``pool_ledger``), with the contract's ``pool`` and
    ``balance`` read now. A round's ``pool`` in the result is what it put into the pool."""
    rounds = [reconcile(v, ref, penalty=penalty, released=free, pool=ledger.inflows.get(v.round_id, 0),
                        balance=balance) for v, ref, free in zip(views, references, released, strict=True)]
    owed = sum(line.expected for r in rounds for line in r.rows if line.withdrawn is None)
    return DeploymentReconciliation(rounds, pool, ledger.pool, ledger.mismatches, balance, pool + owed)
