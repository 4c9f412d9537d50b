"""The participant's API of one deployment: one method per contract step, each sent by an
explicit sender whose key the chain client holds, and the views by name (SPEC section 5).

``DeploymentClient.attach(address, chain=..., sender=...)`` drives a contract already deployed;
it creates no account, funds nothing and moves no clock, so it is what a participant on a
public node uses (``hcfl_cli.participant``). The simulation's conveniences (a funded
deployer, an organizer key it makes itself and signs every ticket with, time travel to each
deadline) are ``contracts.simulation.Deployment``, a subclass.

It never recomputes an outcome: everything it reports is read from chain state (the named
views of ``contracts.views``) or from the contract's events, folded into a round by
``contracts.round_view``. It remembers what a participant needs later (claims and salt for
``reveal`` and ``settle``) and the gas of every call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from contracts.chain import BoaChain, Event, Pending, RpcChain, Tx, connect
from contracts.commitments import ZERO32, commitment, report_chunks
from contracts.constants import ROLES, STATUS_BONUS
from contracts.records import Closed, ParticipantRecord, ProposalRecord, Settled
from contracts.round_view import RoundView, fold_round, read_round, records_of
from contracts.tickets import Ticket, node_key_hash
from contracts.views import ZERO_ADDRESS, ContractViews


class DeploymentClient:
    """One deployment of the contract and a participant's memory of it (see the module docstring)."""

    def __init__(self, chain: BoaChain | RpcChain, address: str, deployer: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.deployer = deployer  # who sends the calls without an explicit sender (advance, close, ...)
        self.views = ContractViews(chain)
        self.gas: dict[str, list[int]] = {}
        self.txs: list[Tx] = []
        self._events: list[Event] = []
        self._secrets: dict[tuple[int, str], tuple[list[int], bytes]] = {}
        self.round_id = self.views.current_round()
        # the first block whose logs ``load_events`` reads: a participant serving round after
        # round reads the rounds it still needs, not the deployment's whole history each poll
        self.events_from = 0

    @classmethod
    def attach(cls, address: str, rpc: str | None = None, *, chain: BoaChain | RpcChain | None = None,
               sender: str | None = None) -> DeploymentClient:
        """Drive a contract already deployed at ``address`` (its past events are not known
        until ``load_events()`` reads them from the node's logs); ``sender``: the address
        (its key added to ``chain``) that sends the calls without an explicit sender."""
        if sender is None:
            raise ValueError("sender: a participant attaches with its own address")
        chain = chain or connect(rpc)
        chain.attach(address)
        return cls(chain, address, to_checksum_address(sender))

    # -- events -----------------------------------------------------------------------------
    def load_events(self) -> list[Event]:
        """Replace the driver's memory of events with every event in the node's logs from
        block ``events_from`` on, so that ``settle_args`` and ``events`` see what other
        processes sent."""
        self._events = list(self.chain.chain_events(self.events_from))
        return self._events

    def head_block(self) -> int:
        """The number of the node's latest block (0 on titanoboa, which keeps no log index)."""
        return self.chain.head_block()

    def chain_events(self) -> list[Event]:
        """Every event of the contract read back from the node's logs (on titanoboa,
        every event logged in this process)."""
        return self.chain.chain_events()

    def events(self, name: str | None = None) -> list[Event]:
        """Decoded events of this deployment, in order (optionally only those named ``name``)."""
        return [e for e in self._events if name is None or e.name == name]

    def records(self, name: str, round_id: int | None = None) -> list[Any]:
        """The typed records of the remembered ``name`` events of a round (default: this one)."""
        return records_of(self._events, name, self._r(round_id))

    def round(self, round_id: int | None = None, *, me: str | None = None, live: bool = True,
              reload: bool = False) -> RoundView:
        """Round ``round_id`` (default the current one) from the remembered events; ``live``:
        with the chain's phase, deadline and time now (and ``me``'s stored record);
        ``reload``: every event read again from the node's logs, after the chain's state."""
        r = self._r(round_id)
        events = self.load_events if reload else (lambda: self._events)
        if live:
            return read_round(self.views, events, r, me=me)
        return fold_round(events(), r)

    # -- transactions -------------------------------------------------------------------
    def _record(self, tx: Tx) -> Tx:
        self.gas.setdefault(tx.fn, []).append(tx.gas)
        self.txs.append(tx)
        self._events.extend(tx.events)
        return tx

    def transact(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Tx:
        """Send any function of the contract and wait for it, recorded like the steps."""
        return self._record(self.chain.transact(sender, fn, args, value))

    _tx = transact

    def submit(self, sender: str, fn: str, args: list[Any], value: int = 0) -> Pending:
        """Send without waiting (JSON-RPC nodes only); ``wait`` records the result."""
        if not isinstance(self.chain, RpcChain):
            raise ValueError("chain: only a JSON-RPC node has transactions in flight")
        return self.chain.submit(sender, fn, args, value)

    def wait(self, pending: Pending) -> Tx:
        """The mined transaction of ``submit``, recorded like any other."""
        assert isinstance(self.chain, RpcChain)
        return self._record(self.chain.wait(pending))

    def start_round(self, sender: str | None = None) -> int:
        """Open the next round (the current one must be finalized); returns its id."""
        self._tx(sender or self.deployer, "start_round", [])
        self.round_id = self.views.current_round()
        return self.round_id

    def register_args(self, role: str, ticket: Ticket | None, node_public_key: bytes = b"") -> list[Any]:
        """``register``'s arguments: the round, the role, the ticket's fields (an open
        deployment's defaults without one) and the station's node public key."""
        if role not in ROLES:
            raise ValueError(f"role: expected owner or station, got {role!r}")
        fields = ticket.register_args() if ticket is not None else [1, 0, node_key_hash(node_public_key), 0, 0, b""]
        return [self.round_id, ROLES[role], *fields, node_public_key]

    def register(self, who: str, role: str, *, deposit: int, ticket: Ticket | None = None,
                 node_public_key: bytes = b"") -> int:
        """Register ``who`` as ``"owner"`` or ``"station"`` with its ``ticket`` (none in an
        open deployment); returns its index in its side."""
        tx = self._tx(who, "register", self.register_args(role, ticket, node_public_key), deposit)
        return tx.first("Registered").index

    def propose(self, who: str, *, budget: int, bond: int, content_hash: bytes = ZERO32, uri: str = "",
                accuracy_bps: int = 0, training_rounds: int = 1, label_mask: int = 2**10 - 1,
                param_count: int = 0) -> int:
        """Post a proposal with its bond and SPEC section 1's metadata; returns its index."""
        tx = self._tx(who, "propose", [self.round_id, budget, content_hash, uri, accuracy_bps, training_rounds,
                                       label_mask, param_count], bond)
        return tx.first("Proposed").index

    def chain_id(self) -> int:
        return self.chain.chain_id

    def commit(self, who: str, claims: Sequence[int], salt: bytes | None = None, store: Any = None) -> bytes:
        """Seal ``claims`` (one per proposal, in proposal-index order); the driver keeps
        claims and salt for later.

        With a ``contracts.secret_store.SecretStore`` (``who``'s own), the salt is derived
        from its key and the secret is written and fsynced *before* the commit is sent, so
        a participant that dies after broadcasting can still reveal.
        """
        if store is not None:
            secret = store.new_secret(self.chain_id(), self.address, self.round_id, claims)
            if to_checksum_address(who) != secret.participant:
                raise ValueError("store: it holds another participant's key")
            store.save(secret)
            salt = secret.salt
        salt = salt if salt is not None else os.urandom(32)
        h = commitment(self.address, self.round_id, who, claims, salt)
        self._tx(who, "commit", [self.round_id, h])
        self._secrets[(self.round_id, to_checksum_address(who))] = (list(claims), salt)
        return h

    def reveal(self, who: str, claims: Sequence[int] | None = None, salt: bytes | None = None,
               store: Any = None) -> Tx:
        """Open ``who``'s commitment (by default with what ``commit`` remembered, or what
        ``who``'s secret ``store`` kept across a restart)."""
        key = (self.round_id, to_checksum_address(who))
        if (claims is None or salt is None) and key not in self._secrets and store is not None:
            kept = store.load(self.chain_id(), self.address, self.round_id)
            if kept is not None:
                self._secrets[key] = (kept.claims, kept.salt)
        if claims is None or salt is None:
            if key not in self._secrets:
                raise ValueError(f"claims: this driver did not commit for {who} in round {self.round_id}")
            kc, ks = self._secrets[key]
            claims = kc if claims is None else claims
            salt = ks if salt is None else salt
        return self._tx(who, "reveal", [self.round_id, list(claims), salt])

    def advance(self, sender: str | None = None) -> str:
        """Move to the next phase (its deadline must be over); returns the new phase's name."""
        self._tx(sender or self.deployer, "advance", [self.round_id])
        return self.phase()

    def close(self, sender: str | None = None) -> Tx:
        """End the Reveal phase (its deadline must be over): choose the winner."""
        return self._tx(sender or self.deployer, "close", [self.round_id])

    def settle_args(self, who: str, round_id: int | None = None) -> list[Any]:
        """The ``settle`` call's arguments for ``who``: its claims and salt if it revealed,
        from its ``Revealed`` log (anyone can settle anyone from the logs alone)."""
        r = self._r(round_id)
        who = to_checksum_address(who)
        for rec in reversed(self.records("Revealed", r)):
            if rec.participant == who:
                return [r, who, rec.claims, rec.salt]
        return [r, who, [], ZERO32]

    def settle_call(self, who: str, *, sender: str | None = None, pay: bool = False,
                    round_id: int | None = None) -> tuple[str, str, list[Any]]:
        """``(sender, function, arguments)`` that settle ``who``: ``settle`` sent by ``sender``
        (default the deployer), or with ``pay`` ``who``'s own ``settle_and_withdraw``."""
        r, who, claims, salt = self.settle_args(who, round_id)
        if pay:
            return who, "settle_and_withdraw", [r, claims, salt]
        return sender or self.deployer, "settle", [r, who, claims, salt]

    def settle(self, who: str, sender: str | None = None, round_id: int | None = None) -> Settled:
        """Settle ``who`` (sent by ``sender``, default the deployer); returns its ``Settled``."""
        return self._tx(*self.settle_call(who, sender=sender, round_id=round_id)).first("Settled")

    def settle_and_withdraw(self, who: str, round_id: int | None = None) -> tuple[Settled, int]:
        """``who`` settles itself and is paid in the same transaction: its ``Settled`` and the amount."""
        tx = self._tx(*self.settle_call(who, pay=True, round_id=round_id))
        return tx.first("Settled"), tx.first("Withdrawn").amount

    def report_training(self, model_hash: bytes, accuracy_bps: int, contributions: Sequence[int],
                        model_uri: str = "") -> list[Tx]:
        """The winner's report: model hash and URI, accuracy (bps), one contribution per station.

        Sent as ``report_training`` with the first ``REPORT_CHUNK`` contributions, then one
        ``report_contributions`` per further chunk; returns the transactions in order.
        """
        w = self.winner()
        if w is None:
            raise ValueError("report_training: the round has no winner")
        proposer = self.proposal(w).proposer
        first, *rest = report_chunks(contributions)
        txs = [self._tx(proposer, "report_training", [self.round_id, model_hash, model_uri, accuracy_bps, first])]
        txs += [self._tx(proposer, "report_contributions", [self.round_id, chunk]) for chunk in rest]
        return txs

    def vote(self, owner: str, punish: bool) -> Tx:
        """``owner`` (not the winner) votes whether to punish the winner."""
        return self._tx(owner, "vote", [self.round_id, punish])

    def finalize(self, sender: str | None = None) -> Tx:
        """End the Vote phase (its deadline must be over): slash or release the bond."""
        return self._tx(sender or self.deployer, "finalize", [self.round_id])

    def withdraw(self, who: str, round_id: int | None = None) -> int:
        """Pull ``who``'s settled payout; returns the amount."""
        r = self._r(round_id)
        return self._tx(who, "withdraw", [r]).first("Withdrawn").amount

    def credit_bonus(self, who: str, sender: str | None = None, round_id: int | None = None) -> int:
        """Credit station ``who`` its bonus of a finalized round to its payout (sent by
        ``sender``, default the deployer; anyone may); returns the bonus. ``withdraw``
        then pays it, whether or not the settlement was withdrawn before."""
        r = self._r(round_id)
        return self._tx(sender or self.deployer, "credit_bonus", [r, to_checksum_address(who)]).first("BonusCredited").bonus

    def withdraw_bond(self, who: str, index: int, round_id: int | None = None) -> int:
        """Pull the released bond of proposal ``index``; returns the amount."""
        r = self._r(round_id)
        return self._tx(who, "withdraw_bond", [r, index]).first("BondWithdrawn").amount

    # -- views (contracts.views, for this deployment's current round by default) ---------------
    def _r(self, round_id: int | None) -> int:
        return self.round_id if round_id is None else round_id

    def phase(self, round_id: int | None = None) -> str:
        return self.views.phase(self._r(round_id))

    def deadline(self, round_id: int | None = None) -> int:
        return self.views.deadline(self._r(round_id))

    def pool(self) -> int:
        return self.views.pool()

    def min_bond(self) -> int:
        return self.views.min_bond()

    def deposit_per_weight(self) -> int:
        return self.views.deposit_per_weight()

    def max_proposals(self) -> int:
        return self.views.max_proposals()

    def bonus_bps(self) -> int:
        return self.views.bonus_bps()

    def no_show_penalty(self) -> int:
        return self.views.no_show_penalty()

    def organizer(self) -> str | None:
        return self.views.organizer()

    def bonus_credited(self, who: str, round_id: int | None = None) -> bool:
        """Whether station ``who``'s bonus of the round was credited."""
        return bool(self.participant(who, round_id).status & STATUS_BONUS)

    def contract_balance(self) -> int:
        return self.chain.balance(self.address)

    def participant(self, who: str, round_id: int | None = None) -> ParticipantRecord:
        return self.views.participant(self._r(round_id), who)

    def proposal(self, index: int, round_id: int | None = None) -> ProposalRecord:
        return self.views.proposal(self._r(round_id), index)

    def withdrawable(self, who: str, round_id: int | None = None) -> int:
        """Settled, not yet withdrawn payout of ``who``."""
        return self.participant(who, round_id).withdrawable

    def held(self, who: str, round_id: int | None = None) -> int:
        """Deposit of ``who`` still held (registered, not settled)."""
        return self.participant(who, round_id).held

    def winner(self, round_id: int | None = None) -> int | None:
        return self.views.winner(self._r(round_id))

    def welfare(self, round_id: int | None = None) -> list[int]:
        return self.views.welfare(self._r(round_id))

    def closed(self, round_id: int | None = None) -> Closed | None:
        """The round's ``Closed`` record, once closed."""
        found = self.records("Closed", round_id)
        return found[-1] if found else None


__all__ = ["ZERO_ADDRESS", "DeploymentClient"]
