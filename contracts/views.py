"""The contract's views, by name, typed: the one place that spells a view's name and the
arguments it takes (``ContractViews``), over any client of ``contracts.chain`` attached to
the contract.

Callers ask ``views.deadline(round_id)`` or ``views.participant(round_id, who)`` and get ints,
bools, bytes and the records of ``contracts.records``, never ``chain.call("deadline", ...)``
strings of their own: a view renamed or moved in the contract changes here alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eth_utils import to_checksum_address

from contracts.constants import PHASES, ROLE_OWNER, STATUS_VOTED
from contracts.records import ParticipantRecord, ProposalRecord, view_record

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class ContractViews:
    """The views of the contract that ``chain`` (a ``BoaChain`` or ``RpcChain``) is attached to."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def _int(self, name: str, *args: Any) -> int:
        return int(self.chain.call(name, list(args)))

    # -- the deployment ------------------------------------------------------------------
    def current_round(self) -> int:
        return self._int("current_round")

    def pool(self) -> int:
        """The recycle pool now (the next round's subsidy)."""
        return self._int("pool")

    def min_bond(self) -> int:
        """The deployment's least responsibility bond."""
        return self._int("MIN_BOND")

    def deposit_per_weight(self) -> int:
        """The deployment's least owner deposit per unit of weight ``d``."""
        return self._int("DEPOSIT_PER_WEIGHT")

    def max_proposals(self) -> int:
        """Proposals per owner and round in an open deployment (a ticket carries its own)."""
        return self._int("MAX_PROPOSALS")

    def no_show_penalty(self) -> int:
        """What a participant that committed and never revealed forfeits (wei)."""
        return self._int("NO_SHOW_PENALTY")

    def bonus_bps(self) -> int:
        """The deployment's station bonus fraction in basis points (SPEC section 9)."""
        return self._int("BONUS_BPS")

    def organizer(self) -> str | None:
        """Who signs the tickets; None for an open deployment."""
        a = to_checksum_address(self.chain.call("ORGANIZER", []))
        return None if a == ZERO_ADDRESS else a

    def phase_seconds(self) -> tuple[int, ...]:
        """The six phase lengths (Register..Vote) the deployment fixed."""
        return tuple(int(x) for x in self.chain.call("phase_seconds", []))

    # -- one round ---------------------------------------------------------------------------
    def phase(self, round_id: int) -> str:
        return PHASES[self._int("phase", round_id)]

    def deadline(self, round_id: int) -> int:
        """The current phase's deadline (a block timestamp)."""
        return self._int("deadline", round_id)

    def participant(self, round_id: int, who: str) -> ParticipantRecord:
        """The stored record: role, status, index, weight, amount (deposit, then payout),
        commitment; an owner's vote (kept by HCFLTraining) is merged in as ``STATUS_VOTED``."""
        rec = view_record(ParticipantRecord, self.chain.call("participant", [round_id, who]))
        if rec.role == ROLE_OWNER and self.chain.call("has_voted", [round_id, rec.index]):
            rec = replace(rec, status=rec.status | STATUS_VOTED)
        return rec

    def revoked(self, who: str) -> bool:
        """Whether the organizer revoked ``who``'s admission (it registers in no round from then on)."""
        return bool(self.chain.call("revoked", [to_checksum_address(who)]))

    def proposal(self, round_id: int, index: int) -> ProposalRecord:
        """Proposal ``index``'s stored record: proposer, bond and its state, hash, accuracy."""
        return view_record(ProposalRecord, self.chain.call("proposals", [round_id, index]))

    def n_proposals(self, round_id: int) -> int:
        return self._int("n_proposals", round_id)

    def n_stations(self, round_id: int) -> int:
        return self._int("n_stations", round_id)

    def winner(self, round_id: int) -> int | None:
        wp1 = self._int("winner_plus_one", round_id)
        return None if wp1 == 0 else wp1 - 1

    def welfare(self, round_id: int) -> list[int]:
        return [self._int("welfare", round_id, k) for k in range(self.n_proposals(round_id))]

    def reported(self, round_id: int) -> bool:
        """Whether the winner's training report is complete."""
        return bool(self.chain.call("reported", [round_id]))

    def report_progress(self, round_id: int) -> int:
        """0 before the report; then 1 + the contributions taken so far."""
        return self._int("report_progress", round_id)

    def model_hash(self, round_id: int) -> bytes:
        return bytes(self.chain.call("model_hash", [round_id]))

    def contributions_hash(self, round_id: int) -> bytes:
        """The running hash of the contributions reported so far (``contracts.commitments``)."""
        return bytes(self.chain.call("contributions_hash", [round_id]))

    def bonus_pool(self, round_id: int) -> int:
        return self._int("bonus_pool", round_id)
