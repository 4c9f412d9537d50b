"""``hcfl status``'s content: the round, its phase and deadline, the proposals (welfare once
closed), this participant's state and the next command it should run, read from the round's
view (``contracts.round_view``) and returned as a frozen result (the command prints it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.commitments import ZERO32
from contracts.constants import BOND_RELEASED, ROLE_NAMES, ROLE_OWNER
from contracts.round_view import CLOSED_PHASES, RoundView


@dataclass(frozen=True)
class ProposalView:
    index: int
    proposer: str
    budget: int
    bond: int
    bond_state: int
    uri: str
    welfare: int | None


@dataclass(frozen=True)
class StatusResult:
    address: str
    round_id: int
    phase: str
    deadline: int
    now: int
    proposals: tuple[ProposalView, ...]
    winner: int | None
    role: str | None
    status: tuple[str, ...]
    amount: int
    next_action: str


def status(s: Any) -> StatusResult:
    """The round of session ``s`` (``hcfl_cli.participant.Session``) and what to do next."""
    v = s.round()
    assert v.phase is not None and v.deadline is not None and v.now is not None and v.me is not None
    closed = v.phase in CLOSED_PHASES
    welfare = list(v.closed.welfare) if closed and v.closed is not None else None
    props = []
    for p in v.proposals:
        rec = s.d.proposal(p.index)
        props.append(ProposalView(p.index, p.proposer, p.budget, rec.bond, rec.bond_state, p.uri,
                                  welfare[p.index] if welfare else None))
    me = v.me
    flags = tuple(name for name in ("revealed", "settled", "withdrawn", "voted") if getattr(me, name))
    if me.role and me.commitment != ZERO32:
        flags = ("committed", *flags)
    winner = v.winner if closed else None
    return StatusResult(s.address, v.round_id, v.phase, v.deadline, v.now, tuple(props), winner,
                        ROLE_NAMES.get(me.role), flags, me.amount, next_action(s.address, v, props, winner))


NEXT_ROUND = "nothing left in this round: hcfl start-round opens the next one"


def next_action(address: str, v: RoundView, props: Sequence[ProposalView], winner: int | None) -> str:
    """The next command participant ``address`` should run in round ``v`` (read live)."""
    phase, me = v.phase, v.me
    assert me is not None
    mine = [p for p in props if p.proposer == address]
    moving = f"the deadline has passed: hcfl {v.mover}" if v.over and v.mover else "wait for the deadline"
    if phase == "Register":
        return "hcfl register --ticket FILE --deposit WEI" if not me.role else moving
    if not me.role:
        return NEXT_ROUND if phase == "Finalized" else "not registered in this round: nothing to do"
    if phase == "Propose":
        return "hcfl propose (an owner may) or " + moving if me.role == ROLE_OWNER else moving
    if phase == "Commit":
        return "hcfl commit --claims ..." if me.commitment == ZERO32 else "committed; " + moving
    if phase == "Reveal":
        return "hcfl reveal" if not me.revealed else "revealed; " + moving
    if not me.settled:
        return "hcfl settle (or hcfl withdraw, which settles first)"
    if phase == "Train" and winner is not None and props[winner].proposer == address:
        return "hcfl report --model FILE --uri URI --accuracy-bps N --contributions ..."
    if phase == "Vote" and me.role == ROLE_OWNER and not me.voted and (
            winner is None or props[winner].proposer != address):
        return "hcfl vote --punish yes|no"
    if not me.withdrawn:
        return "hcfl withdraw"
    if phase == "Finalized" and any(p.bond_state == BOND_RELEASED for p in mine):
        return "hcfl withdraw --bond"
    return NEXT_ROUND if phase == "Finalized" else moving
