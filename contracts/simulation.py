"""The simulation's conveniences on top of the participant's API: one process plays every
participant on a development chain (SPEC section 6's ``settle_on_chain``, ``hcfl round``, the
benchmarks and the tests).

``Deployment`` (a ``contracts.client.DeploymentClient``) adds what only a simulation may do:
``deploy`` from a deployer it funds itself (10**21 wei) with an organizer key it makes itself
and signs every registration's ticket with (``organizer="new"``, the default), fresh funded
accounts (``new_account``), and time travel to each deadline (``next_phase``, and ``close`` and
``finalize`` that travel first). On a public node a participant uses the client alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from eth_utils import to_checksum_address

from contracts.chain import BoaChain, RpcChain, Tx, connect
from contracts.client import DeploymentClient
from contracts.constants import DEFAULT_DEPOSIT_PER_WEIGHT, DEFAULT_MAX_PROPOSALS, DEFAULT_PHASE_SECONDS
from contracts.parameters import check_bonus_bps, check_phase_seconds
from contracts.tickets import Ticket, node_key_hash, revoke
from contracts.views import ZERO_ADDRESS

DEPLOYER_FUNDS = 10**21
"""What the simulation's deployer (and an attached simulation's sender) is funded with."""


class Deployment(DeploymentClient):
    """A deployment driven by a simulation that plays every participant (see the module docstring)."""

    def __init__(self, chain: BoaChain | RpcChain, address: str, deployer: str,
                 organizer_key: bytes | None = None) -> None:
        super().__init__(chain, address, deployer)
        self.organizer_key = organizer_key  # signs tickets in simulations; None: not held here

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
        phases = check_phase_seconds(phase_seconds, "phase_seconds")
        check_bonus_bps(bonus_bps, "bonus_bps")
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
        deployer = chain.new_account(DEPLOYER_FUNDS)
        address = chain.deploy([list(phases), no_show_penalty, min_bond, organizer_address, deposit_per_weight,
                                max_proposals, bonus_bps], deployer)
        d = cls(chain, address, deployer, key)
        d._events.extend(chain.chain_events() if isinstance(chain, BoaChain) else [])
        return d

    @classmethod
    def attach(cls, address: str, rpc: str | None = None, *, chain: BoaChain | RpcChain | None = None,
               sender: str | None = None) -> Deployment:
        """Drive a contract already deployed at ``address``; without a ``sender``, a fresh
        funded account sends the calls that need one (a development chain only)."""
        chain = chain or connect(rpc)
        chain.attach(address)
        deployer = to_checksum_address(sender) if sender is not None else chain.new_account(DEPLOYER_FUNDS)
        return cls(chain, address, deployer)

    def new_account(self, funds: int = DEPLOYER_FUNDS) -> str:
        """A fresh, funded externally owned account."""
        return to_checksum_address(self.chain.new_account(funds))

    def new_accounts(self, funds: Sequence[int]) -> list[str]:
        """Fresh accounts, one per amount, funded together."""
        return [to_checksum_address(a) for a in self.chain.new_accounts(funds)]

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
        return self.views.revoked(who)

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
        return super().register(who, role, deposit=deposit, ticket=ticket, node_public_key=node_public_key)

    def travel_to_deadline(self) -> None:
        """Let time pass until the current phase's deadline (inclusive)."""
        left = self.deadline() - self.chain.now()
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
        """End the Reveal phase, travelling to its deadline first: choose the winner."""
        self.travel_to_deadline()
        return super().close(sender)

    def finalize(self, sender: str | None = None) -> Tx:
        """End the Vote phase, travelling to its deadline first: slash or release the bond."""
        self.travel_to_deadline()
        return super().finalize(sender)


Round = Deployment
"""Alias: the driver of a deployment's rounds."""

__all__ = ["DEPLOYER_FUNDS", "Deployment", "Round"]
