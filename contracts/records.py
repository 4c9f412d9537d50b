"""Typed records of what the contract logs and stores, instead of tuple positions.

Every event of ``HCFL.vy`` and ``HCFLTraining.vy`` has a frozen dataclass here with the event's argument names
(``tests/test_contract_records.py`` checks them against the compiled ABI), and
``record(event)`` turns a decoded ``contracts.chain.Event`` into one. ``ProposalRecord`` and
``ParticipantRecord`` are the ``proposals`` and ``participant`` views.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from contracts.constants import BOND_RELEASED, STATUS_REVEALED, STATUS_SETTLED, STATUS_VOTED, STATUS_WITHDRAWN


@dataclass(frozen=True)
class RoundStarted:
    round_id: int
    deadline: int
    subsidy: int


@dataclass(frozen=True)
class PhaseChanged:
    round_id: int
    phase: int
    deadline: int


@dataclass(frozen=True)
class Registered:
    round_id: int
    participant: str
    role: int
    index: int
    weight: int
    deposit: int
    max_proposals: int
    node_key: bytes  # sha256 of node_public_key (stations), zero for owners
    node_public_key: bytes


@dataclass(frozen=True)
class Proposed:
    round_id: int
    index: int
    proposer: str
    budget: int
    bond: int
    content_hash: bytes  # sha256 of the description document
    uri: str  # where the description document is
    accuracy_bps: int
    training_rounds: int
    label_mask: int
    param_count: int


@dataclass(frozen=True)
class Committed:
    round_id: int
    participant: str
    commitment: bytes


@dataclass(frozen=True)
class Revealed:
    round_id: int
    participant: str
    claims: list[int]
    salt: bytes


@dataclass(frozen=True)
class Closed:
    round_id: int
    has_winner: bool
    winner: int  # meaningless when has_winner is false
    welfare: list[int]
    subsidy_used: int

    @property
    def winner_index(self) -> int | None:
        return self.winner if self.has_winner else None


@dataclass(frozen=True)
class Settled:
    round_id: int
    participant: str
    role: int
    index: int
    share: int
    tax: int
    penalty: int
    payout: int


@dataclass(frozen=True)
class DustSwept:
    round_id: int
    dust: int


@dataclass(frozen=True)
class TrainingReported:
    round_id: int
    model_hash: bytes  # sha256 of the model file
    model_uri: str
    accuracy_bps: int
    stations: int
    contributions: list[int]


@dataclass(frozen=True)
class ContributionsReported:
    round_id: int
    first: int
    contributions: list[int]


@dataclass(frozen=True)
class Voted:
    round_id: int
    owner: str
    punish: bool


@dataclass(frozen=True)
class Finalized:
    round_id: int
    cancelled: bool
    slashed: bool
    punish_votes: int


@dataclass(frozen=True)
class PoolChanged:
    round_id: int
    pool: int


@dataclass(frozen=True)
class Withdrawn:
    round_id: int
    participant: str
    amount: int


@dataclass(frozen=True)
class BonusCredited:
    round_id: int
    station: str
    index: int
    bonus: int


@dataclass(frozen=True)
class Revoked:
    round_id: int  # the current round when the organizer revoked the admission
    participant: str


@dataclass(frozen=True)
class BondWithdrawn:
    round_id: int
    index: int
    proposer: str
    amount: int


EVENT_RECORDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (RoundStarted, PhaseChanged, Registered, Proposed, Committed, Revealed, Closed, Settled,
                DustSwept, TrainingReported, ContributionsReported, Voted, Finalized, PoolChanged,
                Withdrawn, BonusCredited, Revoked, BondWithdrawn)
}
"""Event name -> its record type."""


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bool | int | str):
        return value
    return str(value)  # an address object of either backend


def make_record(name: str, args: dict[str, Any]) -> Any:
    """The typed record of event ``name`` with decoded arguments ``args``."""
    cls = EVENT_RECORDS.get(name)
    if cls is None:
        raise ValueError(f"event: the contract has no event {name!r}")
    return cls(**{f.name: _plain(args[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class ProposalRecord:
    """The ``proposals(round, index)`` view."""

    proposer: str
    bond: int
    bond_state: int
    content_hash: bytes
    accuracy_bps: int

    @property
    def bond_released(self) -> bool:
        return self.bond_state == BOND_RELEASED


@dataclass(frozen=True)
class ParticipantRecord:
    """The ``participant(round, who)`` view: role 0 means not registered."""

    role: int
    status: int
    index: int
    weight: int
    amount: int  # the deposit while unsettled, then the payout
    commitment: bytes

    @property
    def revealed(self) -> bool:
        return bool(self.status & STATUS_REVEALED)

    @property
    def settled(self) -> bool:
        return bool(self.status & STATUS_SETTLED)

    @property
    def withdrawn(self) -> bool:
        return bool(self.status & STATUS_WITHDRAWN)

    @property
    def voted(self) -> bool:
        return bool(self.status & STATUS_VOTED)

    @property
    def withdrawable(self) -> int:
        """Settled, not yet withdrawn payout."""
        return self.amount if self.settled and not self.withdrawn else 0

    @property
    def held(self) -> int:
        """Deposit still held (registered, not settled)."""
        return self.amount if self.role and not self.settled else 0


def view_record(cls: type, value: Any) -> Any:
    """A view's answer (a tuple from web3, a tuple or struct from titanoboa) as ``cls``."""
    names = [f.name for f in fields(cls)]
    if isinstance(value, dict):
        items = [value[n] for n in names]
    elif hasattr(value, "_asdict"):
        d = value._asdict()
        items = [d[n] for n in names] if all(n in d for n in names) else list(value)
    else:
        items = list(value)
    if len(items) != len(names):
        raise ValueError(f"{cls.__name__}: expected {len(names)} fields, got {len(items)}")
    return cls(*[_plain(v) for v in items])
