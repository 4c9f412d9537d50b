"""The web page's data model: a deployment's rounds folded from the contract's typed events.

``DeploymentModel.apply(events)`` folds decoded events (``contracts.chain.Event``) into one
``RoundState`` per round through their typed records (``contracts.records``), never through
raw argument dictionaries, so this is the one module to swap for a shared round view. It
is incremental: a watcher hands it only the events of the new blocks. An event it does not
know (a newer contract's, or one whose record does not decode) is counted and skipped, so
the page keeps working while the contract grows.

Everything here comes from the chain and is untrusted: addresses, URIs and amounts are
kept as they were logged and escaped by the templates, never interpreted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from contracts.chain import Event
from contracts.constants import PHASE_REGISTER, PHASES, ROLE_NAMES, ROLE_OWNER
from contracts.records import (BonusCredited, BondWithdrawn, Closed, Committed, ContributionsReported, DustSwept,
                               Finalized, PhaseChanged, PoolChanged, Proposed, Registered, Revealed, RoundStarted,
                               Settled, TrainingReported, Voted, Withdrawn)


@dataclass
class Member:
    """One participant of one round, as its events tell it."""

    address: str
    role: str  # "owner" or "station"
    index: int
    weight: int
    deposit: int
    committed: bool = False
    claims: list[int] | None = None  # revealed claims, one per proposal
    settled: Settled | None = None
    withdrawn: int = 0  # every amount it pulled in this round
    has_withdrawn: bool = False  # a payout of 0 is withdrawn too
    bonus: int | None = None  # a station's credited bonus (SPEC section 9)
    vote: bool | None = None  # an owner's punishment vote

    @property
    def revealed(self) -> bool:
        return self.claims is not None

    @property
    def payment(self) -> int | None:
        """Once settled, what the settlement moved: an owner's payment (what it pays, its
        share plus its tax), a station's receipt (its share less its tax); a no-show
        penalty is shown apart. Read off the logged payout, so it is the chain's figure."""
        s = self.settled
        if s is None:
            return None
        if self.role == "owner":
            return self.deposit - s.penalty - s.payout
        return s.payout + s.penalty - self.deposit

    @property
    def progress(self) -> tuple[tuple[str, bool], ...]:
        """The steps of a round and whether this participant has done each."""
        return (("registered", True), ("committed", self.committed), ("revealed", self.revealed),
                ("settled", self.settled is not None), ("withdrawn", self.has_withdrawn))


@dataclass
class ProposalState:
    """One proposal: its ``Proposed`` record, its welfare once closed, its bond's fate."""

    record: Proposed
    welfare: int | None = None
    bond_withdrawn: int = 0


@dataclass
class RoundState:
    """One round folded from its events."""

    round_id: int
    subsidy: int = 0
    phase: int = PHASE_REGISTER
    deadline: int = 0
    members: dict[str, Member] = field(default_factory=dict)  # lower-case address -> member
    proposals: dict[int, ProposalState] = field(default_factory=dict)
    closed: Closed | None = None
    dust: int | None = None
    report: TrainingReported | None = None
    chunks: dict[int, list[int]] = field(default_factory=dict)  # first station -> contributions
    finalized: Finalized | None = None
    events: int = 0  # how many of its events were folded (a cache key)

    @property
    def phase_name(self) -> str:
        return PHASES.get(self.phase, f"phase {self.phase}")

    @property
    def owners(self) -> list[Member]:
        return sorted((m for m in self.members.values() if m.role == "owner"), key=lambda m: m.index)

    @property
    def stations(self) -> list[Member]:
        return sorted((m for m in self.members.values() if m.role == "station"), key=lambda m: m.index)

    @property
    def ordered_proposals(self) -> list[ProposalState]:
        return [self.proposals[k] for k in sorted(self.proposals)]

    @property
    def winner(self) -> int | None:
        return self.closed.winner_index if self.closed is not None else None

    @property
    def winning_welfare(self) -> int:
        """``S(x*)``: 0 when nothing won or before close."""
        w = self.winner
        return 0 if w is None or self.closed is None else self.closed.welfare[w]

    @property
    def taxes(self) -> int:
        """Every logged tax of the round, added up."""
        return sum(m.settled.tax for m in self.members.values() if m.settled is not None)

    @property
    def contributions(self) -> list[int] | None:
        """The winner's reported contributions, joined from their chunks; ``None`` until the
        report lists every station."""
        if self.report is None:
            return None
        out: list[int] = []
        while len(out) in self.chunks and self.chunks[len(out)]:
            out += self.chunks[len(out)]
        return out if len(out) == self.report.stations else None

    @property
    def bonus_paid(self) -> int:
        return sum(m.bonus or 0 for m in self.members.values())

    @property
    def votes(self) -> list[tuple[Member, bool | None]]:
        """Every owner but the winning proposer, with its vote (``None``: none yet)."""
        proposer = None
        if self.winner is not None and self.winner in self.proposals:
            proposer = self.proposals[self.winner].record.proposer.lower()
        return [(m, m.vote) for m in self.owners if m.address.lower() != proposer]


class DeploymentModel:
    """Every round of one deployment, folded incrementally from its events."""

    def __init__(self) -> None:
        self.rounds: dict[int, RoundState] = {}
        self.skipped = 0  # events this model does not know (a newer contract's)

    def round(self, round_id: int) -> RoundState:
        return self.rounds.setdefault(round_id, RoundState(round_id))

    @property
    def ordered(self) -> list[RoundState]:
        return [self.rounds[k] for k in sorted(self.rounds)]

    def apply(self, events: Iterable[Event]) -> set[int]:
        """Fold ``events`` (in chain order, after those applied before); returns the ids of
        the rounds they changed."""
        changed: set[int] = set()
        for ev in events:
            try:
                rec = ev.record
            except (ValueError, KeyError, TypeError):
                self.skipped += 1
                continue
            round_id = getattr(rec, "round_id", None)
            if not isinstance(round_id, int) or not self._fold(self.round(round_id), rec):
                self.skipped += 1
                continue
            self.rounds[round_id].events += 1
            changed.add(round_id)
        return changed

    @staticmethod
    def _fold(r: RoundState, rec: object) -> bool:
        """One record into its round; False for a record this model has no place for."""
        who = getattr(rec, "participant", None)
        member = r.members.get(who.lower()) if isinstance(who, str) else None
        match rec:
            case RoundStarted():
                r.subsidy, r.deadline, r.phase = rec.subsidy, rec.deadline, PHASE_REGISTER
            case PhaseChanged():
                r.phase, r.deadline = rec.phase, rec.deadline
            case Registered():
                r.members[rec.participant.lower()] = Member(
                    rec.participant, "owner" if rec.role == ROLE_OWNER else ROLE_NAMES.get(rec.role, "station"),
                    rec.index, rec.weight, rec.deposit)
            case Proposed():
                r.proposals[rec.index] = ProposalState(rec)
            case Committed() if member is not None:
                member.committed = True
            case Revealed() if member is not None:
                member.claims = list(rec.claims)
            case Closed():
                r.closed = rec
                for k, w in enumerate(rec.welfare):
                    if k in r.proposals:
                        r.proposals[k].welfare = w
            case Settled() if member is not None:
                member.settled = rec
            case DustSwept():
                r.dust = rec.dust
            case TrainingReported():
                r.report = rec
                r.chunks[0] = list(rec.contributions)
            case ContributionsReported():
                r.chunks[rec.first] = list(rec.contributions)
            case Voted():
                voter = r.members.get(rec.owner.lower())
                if voter is None:
                    return False
                voter.vote = rec.punish
            case Finalized():
                r.finalized = rec
            case PoolChanged():
                pass  # taxes reach the pool unlogged; the next round's subsidy says what it carried
            case Withdrawn() if member is not None:
                member.withdrawn += rec.amount
                member.has_withdrawn = True
            case BonusCredited():
                station = r.members.get(rec.station.lower())
                if station is None:
                    return False
                station.bonus = rec.bonus
            case BondWithdrawn() if rec.index in r.proposals:
                r.proposals[rec.index].bond_withdrawn += rec.amount
            case _:
                return False
        return True
