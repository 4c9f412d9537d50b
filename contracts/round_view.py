"""One typed view of a round, folded from the contract's events (SPEC section 5: "Events record
every step, so that anyone can rebuild the round from the chain's logs").

``fold_rounds(events)`` turns a deployment's decoded events (``contracts.chain.Event``) into one
``RoundView`` per round, through the typed records of ``contracts.records``: who registered
(with weight, deposit and node key), what each committed and revealed, the proposals, the
closed outcome, every settlement, the training report (its chunks joined), the votes, the
finalization, the pool, every withdrawal and credited bonus. This module is the only one that
folds events; every reader (the agent, ``hcfl status``, localnet, the
auditor, the driver, a web page) reads this view.

A view folded from the logs alone knows the phase from ``PhaseChanged`` and ``Finalized``
(``logged_phase``); ``read_round`` adds what only the chain's state says now (the phase, its
deadline, the latest block's time and, for one participant, its stored record), through the
named views of ``contracts.views``. Every round of a deployment folds the same way, so an
agent serving round after round, or a page showing a deployment's history, reads one type.

A contract that gains an event needs one fold function in ``FOLDS``; events this module does
not know are skipped, never guessed at.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from contracts.constants import PHASES, ROLE_NAMES, ROLE_OWNER, ROLE_STATION
from contracts.records import (EVENT_RECORDS, Closed, Finalized, ParticipantRecord, PhaseChanged, Proposed, Registered,
                               Revealed, RoundStarted, Settled, TrainingReported)

MOVERS: dict[str, str] = {"Register": "advance", "Propose": "advance", "Commit": "advance", "Reveal": "close",
                          "Train": "advance", "Vote": "finalize"}
"""The call that ends each phase once its deadline has passed (anyone may send it)."""
CLOSED_PHASES = ("Train", "Vote", "Finalized")
"""Phases in which the winner is known and participants can be settled."""


@dataclass(frozen=True)
class Member:
    """One registered participant of a round, as the logs tell it."""

    registered: Registered
    commitment: bytes | None = None  # the last one it logged
    revealed: Revealed | None = None
    settled: Settled | None = None
    withdrawn: int | None = None  # every Withdrawn amount added up (a bonus is a second withdrawal)
    bonus: int | None = None  # a station's credited bonus (SPEC section 9)
    vote: bool | None = None  # an owner's punish vote

    @property
    def address(self) -> str:
        return self.registered.participant

    @property
    def role(self) -> str:
        return ROLE_NAMES[self.registered.role]

    @property
    def index(self) -> int:
        return self.registered.index

    @property
    def weight(self) -> int:
        return self.registered.weight

    @property
    def deposit(self) -> int:
        return self.registered.deposit

    @property
    def claims(self) -> list[int] | None:
        """The revealed claims, one per proposal in proposal-index order; None before a reveal."""
        return None if self.revealed is None else list(self.revealed.claims)

    @property
    def node_key_matches(self) -> bool:
        """A station's published node public key hashes to its ticket's node key."""
        import hashlib

        return hashlib.sha256(self.registered.node_public_key).digest() == self.registered.node_key


@dataclass(frozen=True)
class RoundView:
    """Everything about one round (see the module docstring). ``phase``, ``deadline``, ``now``
    and ``me`` are the chain's state when read by ``read_round``, None when folded from logs."""

    round_id: int
    started: RoundStarted | None = None
    phase_changes: tuple[PhaseChanged, ...] = ()
    members: tuple[Member, ...] = ()  # in registration order
    proposals: tuple[Proposed, ...] = ()  # by proposal index
    closed: Closed | None = None
    dust: int | None = None
    report: TrainingReported | None = None
    chunks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # first station -> its chunk
    finalized: Finalized | None = None
    pool: int | None = None  # the pool after this round's last change to it
    bond_withdrawals: dict[int, int] = field(default_factory=dict)  # proposal index -> amount
    phase: str | None = None
    deadline: int | None = None
    now: int | None = None
    me: ParticipantRecord | None = None

    # -- who --------------------------------------------------------------------------------
    def side(self, role: int) -> tuple[Member, ...]:
        """The members of one side (``ROLE_OWNER`` or ``ROLE_STATION``), by index."""
        return tuple(sorted((m for m in self.members if m.registered.role == role), key=lambda m: m.index))

    @property
    def owners(self) -> tuple[Member, ...]:
        return self.side(ROLE_OWNER)

    @property
    def stations(self) -> tuple[Member, ...]:
        return self.side(ROLE_STATION)

    @functools.cached_property
    def _by_address(self) -> dict[str, Member]:
        return {m.address.lower(): m for m in self.members}

    def member(self, address: str) -> Member | None:
        """The member at ``address`` (any case); one lookup, so that the page's plots over
        every person and round stay linear."""
        return self._by_address.get(address.lower())

    @property
    def votes(self) -> dict[str, bool]:
        """Owner address -> its punish vote."""
        return {m.address: m.vote for m in self.members if m.vote is not None}

    # -- what --------------------------------------------------------------------------------
    @property
    def subsidy(self) -> int:
        """The recycled pool this round's winner's owners are subsidised by (SPEC section 5 step 8)."""
        return self.started.subsidy if self.started is not None else 0

    @property
    def budgets(self) -> list[int]:
        return [p.budget for p in self.proposals]

    def proposals_of(self, address: str) -> tuple[Proposed, ...]:
        low = address.lower()
        return tuple(p for p in self.proposals if p.proposer.lower() == low)

    @property
    def winner(self) -> int | None:
        return self.closed.winner_index if self.closed is not None else None

    @property
    def winning_proposal(self) -> Proposed | None:
        w = self.winner
        return self.proposals[w] if w is not None and w < len(self.proposals) else None

    @property
    def contributions(self) -> list[int] | None:
        """The winner's reported contribution of every station, its chunks joined; None
        until the report lists every station (or when it has a gap)."""
        if self.report is None:
            return None
        out: list[int] = []
        while len(out) in self.chunks and self.chunks[len(out)]:
            out += self.chunks[len(out)]
        return out if len(out) == self.report.stations else None

    @property
    def cancelled(self) -> bool:
        return self.finalized is not None and self.finalized.cancelled

    @property
    def slashed(self) -> bool | None:
        """Whether the winner's bond was slashed; None before finalize."""
        return None if self.finalized is None else self.finalized.slashed

    @property
    def logged_phase(self) -> str | None:
        """The phase as the logs alone tell it (None for a round with no event yet)."""
        if self.finalized is not None:
            return "Finalized"
        if self.phase_changes:
            return PHASES[self.phase_changes[-1].phase]
        return "Register" if self.started is not None else None

    @property
    def over(self) -> bool:
        """The current phase's deadline has passed (read live)."""
        return self.now is not None and self.deadline is not None and self.now >= self.deadline

    @property
    def mover(self) -> str | None:
        """The call that ends the current phase once it is ``over`` (None when finalized)."""
        return MOVERS.get(self.phase or self.logged_phase or "")


# -- the fold ---------------------------------------------------------------------------------
@dataclass
class _Round:
    """One round while its events are folded in (mutable; frozen into a ``RoundView``)."""

    round_id: int
    started: RoundStarted | None = None
    phase_changes: list[PhaseChanged] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)  # lowercase address -> member
    proposals: dict[int, Proposed] = field(default_factory=dict)
    closed: Closed | None = None
    dust: int | None = None
    report: TrainingReported | None = None
    chunks: dict[int, tuple[int, ...]] = field(default_factory=dict)
    finalized: Finalized | None = None
    pool: int | None = None
    bond_withdrawals: dict[int, int] = field(default_factory=dict)

    def change(self, who: str, **fields: Any) -> None:
        """Update one member (events about an address that never registered are dropped)."""
        m = self.members.get(who.lower())
        if m is not None:
            self.members[who.lower()] = replace(m, **fields)

    def member(self, who: str) -> Member | None:
        return self.members.get(who.lower())

    def frozen(self) -> RoundView:
        return RoundView(self.round_id, self.started, tuple(self.phase_changes), tuple(self.members.values()),
                         tuple(self.proposals[k] for k in sorted(self.proposals)), self.closed, self.dust, self.report,
                         dict(self.chunks), self.finalized, self.pool, dict(self.bond_withdrawals))


def _registered(r: _Round, rec: Any) -> None:
    r.members[rec.participant.lower()] = Member(rec)


def _withdrawn(r: _Round, rec: Any) -> None:
    m = r.member(rec.participant)
    if m is not None:
        r.change(rec.participant, withdrawn=(m.withdrawn or 0) + rec.amount)


def _bonus(r: _Round, rec: Any) -> None:
    r.change(rec.station, bonus=rec.bonus)


def _set(name: str) -> Callable[[_Round, Any], None]:
    def fold(r: _Round, rec: Any) -> None:
        setattr(r, name, rec)
    return fold


FOLDS: dict[str, Callable[[_Round, Any], None]] = {
    "RoundStarted": _set("started"),
    "PhaseChanged": lambda r, rec: r.phase_changes.append(rec),
    "Registered": _registered,
    "Proposed": lambda r, rec: r.proposals.__setitem__(rec.index, rec),
    "Committed": lambda r, rec: r.change(rec.participant, commitment=rec.commitment),
    "Revealed": lambda r, rec: r.change(rec.participant, revealed=rec),
    "Closed": _set("closed"),
    "Settled": lambda r, rec: r.change(rec.participant, settled=rec),
    "DustSwept": lambda r, rec: setattr(r, "dust", rec.dust),
    "TrainingReported": lambda r, rec: (setattr(r, "report", rec), r.chunks.__setitem__(0, tuple(rec.contributions))),
    "ContributionsReported": lambda r, rec: r.chunks.__setitem__(rec.first, tuple(rec.contributions)),
    "Voted": lambda r, rec: r.change(rec.owner, vote=rec.punish),
    "Finalized": _set("finalized"),
    "PoolChanged": lambda r, rec: setattr(r, "pool", rec.pool),
    "Withdrawn": _withdrawn,
    "BonusCredited": _bonus,
    "BondWithdrawn": lambda r, rec: r.bond_withdrawals.__setitem__(rec.index, rec.amount),
}
"""Event name -> how it changes its round."""


def event_record(event: Any) -> Any | None:
    """The typed record of a decoded event (``contracts.records``); None for an event this
    client does not know."""
    return event.record if event.name in EVENT_RECORDS else None


def event_round(event: Any) -> int | None:
    """The round an event belongs to (None for an unknown event, or one without a round)."""
    return getattr(event_record(event), "round_id", None)


def fold_rounds(events: Iterable[Any]) -> dict[int, RoundView]:
    """Every round found in a deployment's decoded ``events`` (in log order), by round id."""
    rounds: dict[int, _Round] = {}
    for ev in events:
        rec = event_record(ev)
        rid = getattr(rec, "round_id", None)
        fold = FOLDS.get(ev.name)
        if rid is None or fold is None:
            continue
        fold(rounds.setdefault(rid, _Round(rid)), rec)
    return {rid: rounds[rid].frozen() for rid in sorted(rounds)}


@dataclass(frozen=True)
class PoolLedger:
    """The recycle pool rebuilt from a deployment's events (``pool_ledger``)."""

    inflows: dict[int, int]  # round -> what it put into the pool
    pool: int  # the pool the flows add up to after the last event
    mismatches: tuple[str, ...]  # every logged pool (a round's subsidy) the flows before it do not add up to


def pool_ledger(events: Iterable[Any]) -> PoolLedger:
    """Every flow into the recycle pool, by the round it belongs to, from a deployment's events
    in log order: a settlement's tax and no-show penalty (``Settled``) and the round's dust
    (``DustSwept``), which the contract adds without a ``PoolChanged``; a slashed bond, what
    was left of a subsidy and the bonus's rounding (each a ``PoolChanged`` that tells the pool
    after it). A ``RoundStarted`` takes the whole pool as the new round's subsidy, which must
    be what the flows add up to. A round's flows may come after the next round started (a
    station credits its bonus late): they are counted to the round they belong to."""
    pool = 0
    inflow: dict[int, int] = {}
    mismatches: list[str] = []
    for ev in events:
        rec = event_record(ev)
        if rec is None:
            continue
        if ev.name == "RoundStarted":
            if rec.subsidy != pool:
                mismatches.append(f"round {rec.round_id}: subsidy {rec.subsidy}, the flows before it add up to {pool}")
            pool = 0
            inflow.setdefault(rec.round_id, 0)
            continue
        if ev.name == "Settled":
            flow = rec.tax + rec.penalty
        elif ev.name == "DustSwept":
            flow = rec.dust
        elif ev.name == "PoolChanged":
            flow = rec.pool - pool
        else:
            continue
        inflow[rec.round_id] = inflow.get(rec.round_id, 0) + flow
        pool += flow
    return PoolLedger(inflow, pool, tuple(mismatches))


def fold_round(events: Iterable[Any], round_id: int) -> RoundView:
    """Round ``round_id`` of ``events`` (an empty view when nothing of it was logged yet)."""
    return fold_rounds(e for e in events if event_round(e) == round_id).get(round_id, RoundView(round_id))


def records_of(events: Iterable[Any], name: str, round_id: int | None = None) -> list[Any]:
    """The typed records of every ``name`` event (of round ``round_id`` when given), in order."""
    return [rec for e in events if e.name == name and (rec := event_record(e)) is not None
            and (round_id is None or rec.round_id == round_id)]


def read_round(views: Any, events: Sequence[Any] | Callable[[], Sequence[Any]], round_id: int | None = None, *,
               me: str | None = None) -> RoundView:
    """The round as the chain has it now: the phase, its deadline and the latest block's time
    from ``views`` (``contracts.views.ContractViews``), ``me``'s stored record when given,
    and ``events`` folded. ``round_id``: default the deployment's current round.

    ``events`` may be a function that reads them: it is called after the chain's state is
    read, so that the events are never older than the phase (a round read in Vote holds the
    training report that started the Vote phase)."""
    rid = views.current_round() if round_id is None else round_id
    phase, deadline, now = views.phase(rid), views.deadline(rid), int(views.chain.now())
    record = views.participant(rid, me) if me is not None else None
    logged = events() if callable(events) else events
    return replace(fold_round(logged, rid), phase=phase, deadline=deadline, now=now, me=record)
