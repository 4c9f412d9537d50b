"""A participant's sealed claims and salt, kept so that a restart loses nothing (SPEC section 8).

Before a participant's commit is broadcast, its claims and salt are written here (encrypted,
fsynced), keyed by chain, contract, round and address. A lost file does not mean a lost
deposit: the salt is re-derived from the participant's key and its claims (a deterministic
signature, RFC 6979, over the round and the claims), so a participant who remembers its
claims can still reveal. ``verify`` checks the stored secret against the commitment on chain,
which a participant does before the Commit deadline.

Encryption: AES-256-GCM (the ``cryptography`` package) under a key derived from a signature
of the participant's own key, so the store needs no second password and only the key's
holder can read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from contracts.commitments import commitment
from contracts.files import write_durably

FORMAT = 1


@dataclass(frozen=True)
class Secret:
    """What opens one commitment."""

    chain_id: int
    contract: str
    round_id: int
    participant: str
    claims: list[int]
    salt: bytes

    def commitment(self) -> bytes:
        return commitment(self.contract, self.round_id, self.participant, self.claims, self.salt)

    def to_json(self) -> dict:
        return {"format": FORMAT, "chain_id": self.chain_id, "contract": self.contract, "round_id": self.round_id,
                "participant": self.participant, "claims": [str(c) for c in self.claims],
                "salt": "0x" + self.salt.hex()}

    @classmethod
    def from_json(cls, data: dict) -> Secret:
        try:
            return cls(int(data["chain_id"]), to_checksum_address(data["contract"]), int(data["round_id"]),
                       to_checksum_address(data["participant"]), [int(c) for c in data["claims"]],
                       bytes.fromhex(str(data["salt"]).removeprefix("0x")))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"secret: not a secret record ({e})") from None


def derive_salt(key: LocalAccount, chain_id: int, contract: str, round_id: int, claims: Sequence[int]) -> bytes:
    """The salt of ``claims`` in this round, re-derivable from the key alone."""
    message = (f"HCFL salt v1\nchain {chain_id}\ncontract {to_checksum_address(contract)}\nround {round_id}\n"
               f"claims {','.join(str(int(c)) for c in claims)}")
    return keccak(bytes(Account.sign_message(encode_defunct(text=message), key.key).signature))


def _cipher_key(key: LocalAccount) -> bytes:
    sig = Account.sign_message(encode_defunct(text="HCFL secret store v1"), key.key).signature
    return keccak(bytes(sig))


class SecretStore:
    """One participant's secrets in a folder (default ``$HCFL_HOME/secrets``)."""

    def __init__(self, key: LocalAccount, folder: Path | None = None) -> None:
        from contracts.keys import hcfl_home

        self.key = key
        self.folder = folder or hcfl_home() / "secrets"

    def path(self, chain_id: int, contract: str, round_id: int) -> Path:
        return self.folder / f"{chain_id}-{to_checksum_address(contract)}-{round_id}-{self.key.address}.secret"

    def new_secret(self, chain_id: int, contract: str, round_id: int, claims: Sequence[int]) -> Secret:
        """The secret of ``claims``, its salt derived from the key."""
        salt = derive_salt(self.key, chain_id, contract, round_id, claims)
        return Secret(chain_id, to_checksum_address(contract), round_id, self.key.address, [int(c) for c in claims],
                      salt)

    def save(self, secret: Secret) -> Path:
        """Encrypt and write ``secret``, fsynced (file and folder) before this returns."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if secret.participant != self.key.address:
            raise ValueError("secret: it belongs to another participant")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        nonce = os.urandom(12)
        blob = AESGCM(_cipher_key(self.key)).encrypt(nonce, json.dumps(secret.to_json()).encode(), None)
        path = self.path(secret.chain_id, secret.contract, secret.round_id)
        write_durably(path, nonce + blob)
        return path

    def load(self, chain_id: int, contract: str, round_id: int) -> Secret | None:
        """The stored secret of this round, or None when there is no file."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        path = self.path(chain_id, contract, round_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            plain = AESGCM(_cipher_key(self.key)).decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            raise ValueError(f"secret: {path.name} was not written with this key, or is damaged") from None
        return Secret.from_json(json.loads(plain))

    def recover(self, chain_id: int, contract: str, round_id: int, claims: Sequence[int],
                on_chain: bytes) -> Secret:
        """A lost secret rebuilt from the key and the claims, if it opens ``on_chain``."""
        secret = self.new_secret(chain_id, contract, round_id, claims)
        if secret.commitment() != bytes(on_chain):
            raise ValueError("claims: these claims (with this key's salt) do not open the commitment on chain")
        return secret

    def export(self, chain_id: int, contract: str, round_id: int, to: Path) -> None:
        """A backup of one secret, in the clear (JSON): keep it as safe as the key."""
        secret = self.load(chain_id, contract, round_id)
        if secret is None:
            raise ValueError(f"secret: none stored for round {round_id} of {contract}")
        to.write_text(json.dumps(secret.to_json(), indent=1))

    def import_(self, source: Path) -> Secret:
        """Store a backup made by ``export``."""
        try:
            secret = Secret.from_json(json.loads(source.read_text()))
        except (OSError, ValueError) as e:
            raise ValueError(f"secret: cannot read a backup from {source} ({e})") from None
        self.save(secret)
        return secret


def verify(secret: Secret, on_chain: bytes) -> bool:
    """Whether ``secret`` opens the commitment stored on chain."""
    return secret.commitment() == bytes(on_chain)
