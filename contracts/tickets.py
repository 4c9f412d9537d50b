"""Admission tickets: the organizer's EIP-712 signature that admits one participant (SPEC
section 5 step 0).

A ticket is typed data that any standard signer can make (eth-account's
``encode_typed_data``, ``cast wallet sign --data``, a hardware wallet)::

    domain  {name: "HCFL", version: "2", chainId, verifyingContract}
    Admission(uint256 round,address participant,uint8 role,uint256 weight,
              uint256 maxProposals,bytes32 nodeKey,uint256 expiry)

``round`` 0 admits to every round until ``expiry`` (a timestamp); ``nodeKey`` is the sha256
of a station's Flower node public key, zero for owners. ``Ticket.to_json``/``from_json`` is
the file that ``hcfl admit`` will hand to a participant. The organizer revokes an admission
on chain (``revoke``; ``hcfl admit --revoke``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from contracts.constants import MAX_M, ROLES

DOMAIN_NAME = "HCFL"
DOMAIN_VERSION = "2"
ZERO_KEY = b"\x00" * 32
ADMISSION_TYPES = {
    "Admission": [
        {"name": "round", "type": "uint256"},
        {"name": "participant", "type": "address"},
        {"name": "role", "type": "uint8"},
        {"name": "weight", "type": "uint256"},
        {"name": "maxProposals", "type": "uint256"},
        {"name": "nodeKey", "type": "bytes32"},
        {"name": "expiry", "type": "uint256"},
    ]
}
"""The EIP-712 types of a ticket, exactly as the contract's ``ADMISSION_TYPEHASH`` spells them."""


def node_key_hash(public_key: bytes) -> bytes:
    """A station's ``nodeKey``: the sha256 of its Flower node public key (the bytes it
    publishes at registration)."""
    return hashlib.sha256(public_key).digest() if public_key else ZERO_KEY


@dataclass(frozen=True)
class Ticket:
    """One admission, signed or not yet (``signature`` empty)."""

    chain_id: int
    contract: str
    participant: str
    role: str  # "owner" or "station"
    weight: int
    max_proposals: int
    node_key: bytes
    expiry: int
    round: int = 0
    signature: bytes = b""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role: expected owner or station, got {self.role!r}")
        if not 1 <= self.weight <= 2**96 - 1:
            raise ValueError(f"weight: expected 1 .. 2**96-1, got {self.weight}")
        if not 0 <= self.max_proposals <= MAX_M:
            raise ValueError(f"max_proposals: expected 0 .. {MAX_M}, got {self.max_proposals}")
        if len(self.node_key) != 32:
            raise ValueError(f"node_key: expected 32 bytes, got {len(self.node_key)}")
        if self.role == "owner" and self.node_key != ZERO_KEY:
            raise ValueError("node_key: an owner's ticket has no node key")

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 message (domain, types, primary type, message)."""
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                **ADMISSION_TYPES,
            },
            "primaryType": "Admission",
            "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                       "verifyingContract": to_checksum_address(self.contract)},
            "message": {
                "round": self.round,
                "participant": to_checksum_address(self.participant),
                "role": ROLES[self.role],
                "weight": self.weight,
                "maxProposals": self.max_proposals,
                "nodeKey": self.node_key,
                "expiry": self.expiry,
            },
        }

    def signed_by(self, organizer_key: bytes | str) -> Ticket:
        """This ticket with the organizer's signature."""
        signed = Account.sign_message(encode_typed_data(full_message=self.typed_data()), organizer_key)
        return Ticket(**{**asdict(self), "signature": bytes(signed.signature)})

    def signer(self) -> str:
        """The address that signed this ticket (``ValueError`` when unsigned)."""
        if len(self.signature) != 65:
            raise ValueError("signature: the ticket is not signed")
        return Account.recover_message(encode_typed_data(full_message=self.typed_data()), signature=self.signature)

    def register_args(self) -> list[Any]:
        """``register``'s ticket arguments after the round and role:
        weight, max_proposals, node_key, expiry, ticket round, signature."""
        return [self.weight, self.max_proposals, self.node_key, self.expiry, self.round, self.signature]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["node_key"] = "0x" + self.node_key.hex()
        d["signature"] = "0x" + self.signature.hex()
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ticket:
        try:
            fields = dict(data)
            fields["node_key"] = bytes.fromhex(str(fields["node_key"]).removeprefix("0x"))
            fields["signature"] = bytes.fromhex(str(fields.get("signature", "")).removeprefix("0x"))
            return cls(**fields)
        except (KeyError, TypeError) as e:
            raise ValueError(f"ticket: not a ticket file ({e})") from None


def revoke(chain: Any, organizer: str, participant: str) -> Any:
    """The organizer (an account of ``chain``) revokes ``participant``'s admission from now
    on: it registers in no round any more; registered in the current round, it keeps its
    rights there. Returns the transaction (``contracts.chain.Tx``)."""
    return chain.transact(organizer, "revoke", [to_checksum_address(participant)])
