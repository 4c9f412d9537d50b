"""Step-by-step driver of the HCFL contract: one method per contract step (SPEC section 5).

``Deployment`` (also exported as ``Round``) deploys the contract on a chain from
``contracts.chain.connect`` and sends one transaction per method, remembering what a
participant needs later (claims and salt for ``reveal`` and ``settle``) and the gas of every
call. It never recomputes an outcome: everything it reports is read from chain state or
from the contract's events.

    from contracts.driver import Deployment
    d = Deployment.deploy(rpc=None)                 # titanoboa; or rpc="http://127.0.0.1:8545"
    o = d.new_account(10**18); s = d.new_account(10**18)
    d.register(o, "owner", weight=1, deposit=500)
    d.register(s, "station", weight=1, deposit=100)
    d.next_phase()                                  # time travel past the deadline + advance
    m = d.propose(o, budget=100, bond=1)
    d.next_phase()
    d.commit(o, [300]); d.commit(s, [50])
    d.next_phase()
    d.reveal(o); d.reveal(s)
    d.close()                                       # travels to the reveal deadline first
    d.settle(o); d.settle(s)
    d.report_training(model_hash=b"\\x01" * 32, accuracy_bps=9000, contributions=[7])
    d.next_phase()                                  # past the vote deadline: finalize
                                                    # (owners vote before: d.vote(owner, True))
    d.withdraw(o); d.withdraw(s); d.withdraw_bond(o, m)
    d.credit_bonus(s); d.withdraw(s)               # the bonus, with Deployment.deploy(bonus_bps=...) > 0
    d.start_round()                                 # the next round, same deployment
    d.events()                                      # [Event(name, args), ...] of the deployment
    d.gas                                           # {"reveal": [gas, ...], ...}

``Deployment.attach(address, rpc)`` drives an existing deployment; ``chain_events()`` reads
every event of the contract back from a node's logs. Views: ``phase()``, ``pool()``, ``contract_balance()``, ``withdrawable(addr)``,
``held(addr)``, ``winner()``, ``welfare()``, ``settled(addr)`` (the ``Settled`` event's
arguments). ``commitment(contract, round, sender, claims, salt)`` is the pure Python twin of
the contract's commitment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from contracts.chain import BoaChain, Event, Pending, RpcChain, Tx, connect
from contracts.constants import (DEFAULT_DEPOSIT_PER_WEIGHT, DEFAULT_MAX_PROPOSALS, DEFAULT_PHASE_SECONDS, PHASES,
                                 REPORT_CHUNK, ROLE_OWNER, ROLES, STATUS_BONUS, STATUS_VOTED)
from contracts.tickets import Ticket, is_revoked, node_key_hash, revoke
from contracts.records import Closed, ParticipantRecord, ProposalRecord, Settled, view_record

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

__all__ = [
    "DEFAULT_PHASE_SECONDS", "PHASES", "REPORT_CHUNK", "ROLES", "ZERO_ADDRESS", "Deployment", "Round", "commitment",
    "contributions_hash", "report_chunks",
]


def report_chunks(contributions: Sequence[int]) -> list[list[int]]:
    """Split a report's contributions into the chunks the contract takes, in order.

    The first goes with ``report_training``, the rest with ``report_contributions``; an
    empty list (a round without stations) is one empty chunk.
    """
    c = [int(x) for x in contributions]
    return [c[i:i + REPORT_CHUNK] for i in range(0, len(c), REPORT_CHUNK)] or [[]]


def contributions_hash(contributions: Sequence[int]) -> bytes:
    """The contract's running hash of a full contribution list.

    ``keccak256(abi_encode(chunk_0))``, then ``keccak256(abi_encode(hash, chunk_k))`` for each
    further chunk, so that a report of any length is checked one bounded chunk at a time.
    """
    chunks = report_chunks(contributions)
    h = keccak(abi_encode(["uint256[]"], [chunks[0]]))
    for chunk in chunks[1:]:
        h = keccak(abi_encode(["bytes32", "uint256[]"], [h, chunk]))
    return h


def commitment(contract: str, round_id: int, sender: str, claims: Sequence[int], salt: bytes) -> bytes:
    """``keccak256(abi_encode(contract, round_id, sender, claims, salt))``, as the contract does.

    ``claims`` is encoded as a dynamic ``uint256[]`` (one claim per proposal) and ``salt`` as
    ``bytes32``; binding contract, round and sender makes a copied or replayed commitment fail.
    """
    if len(salt) != 32:
        raise ValueError(f"salt: expected 32 bytes, got {len(salt)}")
    data = abi_encode(
        ["address", "uint256", "address", "uint256[]", "bytes32"],
        [to_checksum_address(contract), round_id, to_checksum_address(sender), list(claims), bytes(salt)],
    )
    return keccak(data)


class Deployment:
    """One deployment of the contract and the driver's memory of it (see module docstring)."""

    def __init__(self, chain: BoaChain | RpcChain, address: str, deployer: str,
                 organizer_key: bytes | None = None) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.deployer = deployer
        self.organizer_key = organizer_key  # signs tickets in simulations; None: not held here
        self.gas: dict[str, list[int]] = {}
        self.txs: list[Tx] = []
        self._events: list[Event] = []
        self._secrets: dict[tuple[int, str], tuple[list[int], bytes]] = {}
        self.round_id = int(self.chain.call("current_round", []))

    # -- deployment -------------------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        rpc: str | None = None,
        *,
        chain: BoaChain | RpcChain | None = None,
        phase_seconds: Sequence[int] = DEFAULT_PHASE_SECONDS,
        no_show_penalty: int = 0,
        min_bond: int = 1,
        deposit_per_weight: int = DEFAULT_DEPOSIT_PER_WEIGHT,
        max_proposals: int = DEFAULT_MAX_PROPOSALS,
        organizer: str | bytes | None = "new",
        bonus_bps: int = 0,
    ) -> Deployment:
        """Deploy a fresh contract (titanoboa when ``rpc`` is None) and open round 1.

        ``bonus_bps``: SPEC section 9's station bonus fraction in basis points (0..10000,
        default 0: every station reward by weight, as without the bonus).

        ``organizer``: ``"new"`` (default) makes a fresh organizer key that this driver
        holds and signs every registration's ticket with (a simulation plays every
        participant); a private key (bytes) uses that key; ``None`` deploys an open
        deployment (everyone admitted with weight 1).
        """
        if len(phase_seconds) != 6 or any(int(s) <= 0 for s in phase_seconds):
            raise ValueError("phase_seconds: expected six positive lengths (Register..Vote)")
        if isinstance(bonus_bps, bool) or not isinstance(bonus_bps, int) or not 0 <= bonus_bps <= 10_000:
            raise ValueError(f"bonus_bps: expected an integer in 0..10000, got {bonus_bps!r}")
        key: bytes | None = None
        if organizer == "new":
            key = os.urandom(32)
        elif isinstance(organizer, bytes):
            key = organizer
        elif organizer is not None:
            raise ValueError("organizer: expected 'new', a private key or None")
        from eth_account import Account

        organizer_address = Account.from_key(key).address if key else ZERO_ADDRESS
        chain = chain or connect(rpc)
        deployer = chain.new_account(10**21)
        address = chain.deploy([list(phase_seconds), no_show_penalty, min_bond, organizer_address,
                                deposit_per_weight, max_proposals, bonus_bps], deployer)
        d = cls(chain, address, deployer, key)
        d._events.extend(chain.chain_events() if isinstance(chain, BoaChain) else [])
        return d

    @classmethod
    def attach(cls, address: str, rpc: str | None = None, *, chain: BoaChain | RpcChain | None = None,
               sender: str | None = None) -> Deployment:
        """Drive a contract already deployed at ``address`` (its past events are not known
        to the driver; ``chain_events()`` or ``load_events()`` reads them from the node's logs).

        ``sender``: the address (its key added to ``chain``) that sends the calls without an
        explicit sender (``advance``, ``close``, ...). Without one, a fresh funded account
        is made for that, which only a development chain can do; a participant on a public
        node gives its own address, and nothing is funded or created.
        """
        chain = chain or connect(rpc)
        chain.attach(address)
        deployer = to_checksum_address(sender) if sender is not None else chain.new_account(10**21)
        return cls(chain, address, deployer)

    def load_events(self) -> list[Event]:
        """Replace the driver's memory of events with every event in the node's logs, so
        that ``settle_args`` and ``events`` see what other processes sent."""
        self._events = list(self.chain.chain_events())
        return self._events

    def chain_events(self) -> list[Event]:
        """Every event of the contract read back from the node's logs (on titanoboa,
        every event logged in this process)."""
        return self.chain.chain_events()

    def new_account(self, funds: int = 10**21) -> str:
        """A fresh, funded externally owned account."""
        return to_checksum_address(self.chain.new_account(funds))

    def new_accounts(self, funds: Sequence[int]) -> list[str]:
        """Fresh accounts, one per amount, funded together."""
        return [to_checksum_address(a) for a in self.chain.new_accounts(funds)]

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
        self.round_id = int(self.chain.call("current_round", []))
        return self.round_id

    def ticket(self, who: str, role: str, *, weight: int = 1, max_proposals: int = DEFAULT_MAX_PROPOSALS,
               node_public_key: bytes = b"", expiry: int | None = None, round_id: int = 0) -> Ticket:
        """An admission ticket for ``who``, signed with the organizer key this driver holds."""
        if self.organizer_key is None:
            raise ValueError("organizer: this driver does not hold the organizer's key")
        return Ticket(self.chain_id(), self.address, to_checksum_address(who), role, weight, max_proposals,
                      node_key_hash(node_public_key), expiry if expiry is not None else self.chain.now() + 10**8,
                      round_id).signed_by(self.organizer_key)

    def revoke(self, who: str) -> Tx:
        """The organizer (whose key this driver holds; on a node, its address must hold gas
        money) revokes ``who``'s admission: ``who`` registers in no round from now on."""
        if self.organizer_key is None:
            raise ValueError("organizer: this driver does not hold the organizer's key")
        return self._record(revoke(self.chain, self.chain.add_account(self.organizer_key), who))

    def revoked(self, who: str) -> bool:
        """Whether ``who``'s admission was revoked."""
        return is_revoked(self.chain, who)

    def register_args(self, role: str, ticket: Ticket | None, node_public_key: bytes = b"") -> list[Any]:
        """``register``'s arguments: the round, the role, the ticket's fields (an open
        deployment's defaults without one) and the station's node public key."""
        if role not in ROLES:
            raise ValueError(f"role: expected owner or station, got {role!r}")
        fields = ticket.register_args() if ticket is not None else [1, 0, node_key_hash(node_public_key), 0, 0, b""]
        return [self.round_id, ROLES[role], *fields, node_public_key]

    def register(self, who: str, role: str, *, deposit: int, weight: int = 1, ticket: Ticket | None = None,
                 node_public_key: bytes = b"", max_proposals: int | None = None) -> int:
        """Register ``who`` as ``"owner"`` or ``"station"``; returns its index in its side.

        Without a ``ticket``, a driver that holds the organizer key signs one with
        ``weight`` (and ``max_proposals``, default the deployment's); an open deployment
        takes none (and weight 1).
        """
        if ticket is None and self.organizer_key is not None:
            allowance = self.max_proposals() if max_proposals is None else max_proposals
            ticket = self.ticket(who, role, weight=weight, max_proposals=allowance if role == "owner" else 0,
                                 node_public_key=node_public_key)
        tx = self._tx(who, "register", self.register_args(role, ticket, node_public_key), deposit)
        return tx.first("Registered").index

    def propose(
        self,
        who: str,
        *,
        budget: int,
        bond: int,
        content_hash: bytes = b"\x00" * 32,
        uri: str = "",
        accuracy_bps: int = 0,
        training_rounds: int = 1,
        label_mask: int = 2**10 - 1,
        param_count: int = 0,
    ) -> int:
        """Post a proposal with its bond and SPEC section 1's metadata; returns its index."""
        tx = self._tx(
            who,
            "propose",
            [self.round_id, budget, content_hash, uri, accuracy_bps, training_rounds, label_mask, param_count],
            bond,
        )
        return tx.first("Proposed").index

    def chain_id(self) -> int:
        return self.chain.chain_id

    def commit(self, who: str, claims: Sequence[int], salt: bytes | None = None, store: Any = None) -> bytes:
        """Seal ``claims`` (one per proposal); the driver keeps claims and salt for later.

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
        tx = self._tx(who, "reveal", [self.round_id, list(claims), salt])
        return tx

    def advance(self, sender: str | None = None) -> str:
        """Move to the next phase (its deadline must be over); returns the new phase's name."""
        self._tx(sender or self.deployer, "advance", [self.round_id])
        return self.phase()

    def travel_to_deadline(self) -> None:
        """Let time pass until the current phase's deadline (inclusive)."""
        left = int(self.chain.call("deadline", [self.round_id])) - self.chain.now()
        if left > 0:
            self.chain.time_travel(left)

    def next_phase(self, sender: str | None = None) -> str:
        """Travel to the deadline, then end the phase: ``advance``, ``close`` or ``finalize``
        (nothing once the round is finalized)."""
        p = self.phase()
        if p == "Finalized":
            return p
        self.travel_to_deadline()
        if p == "Reveal":
            self.close(sender)
        elif p == "Vote":
            self.finalize(sender)
        else:
            self.advance(sender)
        return self.phase()

    def close(self, sender: str | None = None) -> Tx:
        """End the Reveal phase (travelling to its deadline first): choose the winner."""
        self.travel_to_deadline()
        return self._tx(sender or self.deployer, "close", [self.round_id])

    def settle_args(self, who: str, round_id: int | None = None) -> list[Any]:
        """The ``settle`` call's arguments for ``who``: its claims and salt if it revealed,
        from its ``Revealed`` log (anyone can settle anyone from the logs alone)."""
        r = self.round_id if round_id is None else round_id
        who = to_checksum_address(who)
        for ev in reversed(self.events("Revealed")):
            rec = ev.record
            if rec.round_id == r and rec.participant == who:
                return [r, who, rec.claims, rec.salt]
        return [r, who, [], b"\x00" * 32]

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
        """End the Vote phase (travelling to its deadline first): slash or release the bond."""
        self.travel_to_deadline()
        return self._tx(sender or self.deployer, "finalize", [self.round_id])

    def withdraw(self, who: str, round_id: int | None = None) -> int:
        """Pull ``who``'s settled payout; returns the amount."""
        r = self.round_id if round_id is None else round_id
        return self._tx(who, "withdraw", [r]).first("Withdrawn").amount

    def credit_bonus(self, who: str, sender: str | None = None, round_id: int | None = None) -> int:
        """Credit station ``who`` its bonus of a finalized round to its payout (sent by
        ``sender``, default the deployer; anyone may); returns the bonus. ``withdraw``
        then pays it, whether or not the settlement was withdrawn before."""
        r = self.round_id if round_id is None else round_id
        return self._tx(sender or self.deployer, "credit_bonus", [r, to_checksum_address(who)]).first("BonusCredited").bonus

    def withdraw_bond(self, who: str, index: int, round_id: int | None = None) -> int:
        """Pull the released bond of proposal ``index``; returns the amount."""
        r = self.round_id if round_id is None else round_id
        return self._tx(who, "withdraw_bond", [r, index]).first("BondWithdrawn").amount

    # -- views -------------------------------------------------------------------------
    def phase(self, round_id: int | None = None) -> str:
        return PHASES[int(self.chain.call("phase", [self.round_id if round_id is None else round_id]))]

    def pool(self) -> int:
        return int(self.chain.call("pool", []))

    def min_bond(self) -> int:
        """The deployment's least responsibility bond."""
        return int(self.chain.call("MIN_BOND", []))

    def deposit_per_weight(self) -> int:
        """The deployment's least owner deposit per unit of weight ``d``."""
        return int(self.chain.call("DEPOSIT_PER_WEIGHT", []))

    def max_proposals(self) -> int:
        """Proposals per owner and round in an open deployment (a ticket carries its own)."""
        return int(self.chain.call("MAX_PROPOSALS", []))

    def bonus_bps(self) -> int:
        """The deployment's station bonus fraction in basis points (SPEC section 9)."""
        return int(self.chain.call("BONUS_BPS", []))

    def bonus_credited(self, who: str, round_id: int | None = None) -> bool:
        """Whether station ``who``'s bonus of the round was credited."""
        return bool(self.participant(who, round_id).status & STATUS_BONUS)

    def organizer(self) -> str | None:
        """Who signs the tickets; None for an open deployment."""
        a = to_checksum_address(self.chain.call("ORGANIZER", []))
        return None if a == ZERO_ADDRESS else a

    def contract_balance(self) -> int:
        return self.chain.balance(self.address)

    def participant(self, who: str, round_id: int | None = None) -> ParticipantRecord:
        """The stored record: role, status, index, weight, amount (deposit, then payout),
        commitment; an owner's vote (kept by HCFLTraining) is merged in as ``STATUS_VOTED``."""
        r = self.round_id if round_id is None else round_id
        rec = view_record(ParticipantRecord, self.chain.call("participant", [r, who]))
        if rec.role == ROLE_OWNER and self.chain.call("has_voted", [r, rec.index]):
            rec = replace(rec, status=rec.status | STATUS_VOTED)
        return rec

    def proposal(self, index: int, round_id: int | None = None) -> ProposalRecord:
        """Proposal ``index``'s stored record: proposer, bond and its state, hash, accuracy."""
        r = self.round_id if round_id is None else round_id
        return view_record(ProposalRecord, self.chain.call("proposals", [r, index]))

    def withdrawable(self, who: str, round_id: int | None = None) -> int:
        """Settled, not yet withdrawn payout of ``who``."""
        return self.participant(who, round_id).withdrawable

    def held(self, who: str, round_id: int | None = None) -> int:
        """Deposit of ``who`` still held (registered, not settled)."""
        return self.participant(who, round_id).held

    def winner(self, round_id: int | None = None) -> int | None:
        wp1 = int(self.chain.call("winner_plus_one", [self.round_id if round_id is None else round_id]))
        return None if wp1 == 0 else wp1 - 1

    def welfare(self, round_id: int | None = None) -> list[int]:
        r = self.round_id if round_id is None else round_id
        m = int(self.chain.call("n_proposals", [r]))
        return [int(self.chain.call("welfare", [r, k])) for k in range(m)]

    def events(self, name: str | None = None) -> list[Event]:
        """Decoded events of this deployment, in order (optionally only those named ``name``)."""
        return [e for e in self._events if name is None or e.name == name]

    def closed(self, round_id: int | None = None) -> Closed | None:
        """The round's ``Closed`` record, once closed."""
        r = self.round_id if round_id is None else round_id
        found = [e.record for e in self.events("Closed") if int(e.args["round_id"]) == r]
        return found[-1] if found else None


Round = Deployment
"""Alias: the driver of a deployment's rounds."""
