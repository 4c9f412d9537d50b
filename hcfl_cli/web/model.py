"""The web page's data model: a deployment's rounds as ``contracts.round_view`` folds them,
with the sums the page shows.

``DeploymentModel.apply(events)`` files the decoded events of new blocks (HCFL's and its
HCFLTraining's, in chain order) under their rounds and folds every round they touched again
with ``contracts.round_view.fold_rounds``: the one fold of a round that the agent, ``hcfl
status``, the auditor and this page all read, so the page cannot tell a round differently.
It is incremental: a watcher hands it only the events of the new blocks, and only the rounds
they belong to are folded again. An event the fold does not know (a newer contract's), or
one whose record does not decode, is counted and skipped, so the page keeps working while
the contract grows.

Everything here comes from the chain and is untrusted: addresses, URIs and amounts are
kept as they were logged and escaped by the templates, never interpreted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from contracts.chain import Event
from contracts.records import Proposed
from contracts.round_view import FOLDS, Member, RoundView, fold_rounds

VOTING_PHASES = ("Vote", "Finalized")
"""Phases in which the owners' votes are shown (even before the first one)."""


def payment(m: Member) -> int | None:
    """Once settled, what the settlement moved: an owner's payment (what it pays, its share
    plus its tax), a station's receipt (its share less its tax); a no-show penalty is shown
    apart. Read off the logged payout, so it is the chain's figure."""
    s = m.settled
    if s is None:
        return None
    if m.role == "owner":
        return m.deposit - s.penalty - s.payout
    return s.payout + s.penalty - m.deposit


def progress(m: Member) -> tuple[tuple[str, bool], ...]:
    """The steps of a round and whether participant ``m`` has done each (a payout of 0
    withdrawn is withdrawn too)."""
    return (("registered", True), ("committed", m.commitment is not None), ("revealed", m.revealed is not None),
            ("settled", m.settled is not None), ("withdrawn", m.withdrawn is not None))


@dataclass(frozen=True)
class ProposalRow:
    """One proposal as the page lists it: its ``Proposed`` record, its welfare once closed,
    what of its bond was withdrawn."""

    record: Proposed
    welfare: int | None
    bond_withdrawn: int


@dataclass(frozen=True)
class RoundState(RoundView):
    """One round: the ``RoundView`` folded from its logs, and what the page sums from it."""

    @classmethod
    def of(cls, view: RoundView) -> RoundState:
        return cls(**{f.name: getattr(view, f.name) for f in fields(RoundView)})

    @property
    def phase_name(self) -> str:
        return self.logged_phase or "Register"

    @property
    def voting(self) -> bool:
        """The round is in its Vote phase or past it (by its logs)."""
        return self.logged_phase in VOTING_PHASES

    @property
    def ordered_proposals(self) -> list[ProposalRow]:
        welfare = self.closed.welfare if self.closed is not None else []
        return [ProposalRow(p, welfare[p.index] if p.index < len(welfare) else None,
                            self.bond_withdrawals.get(p.index, 0)) for p in self.proposals]

    @property
    def winning_welfare(self) -> int:
        """``S(x*)``: 0 when nothing won or before close."""
        w = self.winner
        return 0 if w is None or self.closed is None else self.closed.welfare[w]

    @property
    def taxes(self) -> int:
        """Every logged tax of the round, added up."""
        return sum(m.settled.tax for m in self.members if m.settled is not None)

    @property
    def bonus_paid(self) -> int:
        return sum(m.bonus or 0 for m in self.members)

    @property
    def owner_votes(self) -> list[tuple[Member, bool | None]]:
        """Every owner but the winning proposer, with its vote (``None``: none yet)."""
        won = self.winning_proposal
        proposer = won.proposer.lower() if won is not None else None
        return [(m, m.vote) for m in self.owners if m.address.lower() != proposer]


def _round_of(ev: Event) -> int | None:
    """The round of an event the fold knows; None for any other, or one that does not decode."""
    if ev.name not in FOLDS:
        return None
    try:
        round_id = getattr(ev.record, "round_id", None)
    except (ValueError, KeyError, TypeError):
        return None
    return round_id if isinstance(round_id, int) else None


class DeploymentModel:
    """Every round of one deployment, folded incrementally from its events."""

    def __init__(self) -> None:
        self.rounds: dict[int, RoundState] = {}
        self.skipped = 0  # events this model does not know (a newer contract's)
        self._events: dict[int, list[Event]] = {}  # round id -> its events, in chain order

    @property
    def ordered(self) -> list[RoundState]:
        return [self.rounds[k] for k in sorted(self.rounds)]

    def apply(self, events: Iterable[Event]) -> set[int]:
        """Fold ``events`` (in chain order, after those applied before); returns the ids of
        the rounds they changed."""
        changed: set[int] = set()
        for ev in events:
            round_id = _round_of(ev)
            if round_id is None:
                self.skipped += 1
                continue
            self._events.setdefault(round_id, []).append(ev)
            changed.add(round_id)
        for round_id in changed:
            mine = self._events[round_id]
            self.rounds[round_id] = RoundState.of(fold_rounds(mine)[round_id])
        return changed
