"""A participant's transactions in flight, kept on disk so that a restart sends nothing twice
(SPEC section 8, Transactions).

Every transaction a participant's command signs is written here (fsynced) **before** it is
broadcast, one file per nonce, keyed by chain and address; every resend at that nonce is
added to the same file. Once one version is mined the file is removed. A command killed
between the broadcast and the receipt finds the file when it is run again, waits for that
nonce (resending at the same nonce with a higher fee when it is not mined in time), and
only then reads the chain to decide what is left to do: the node's pending nonce alone would
tell it that something is in flight, not what, nor how to replace it.

The files hold the unsigned transactions (the signature is made again from the key when a
version is resent); a reveal's calldata carries the claims and the salt, which it makes
public on broadcast anyway. Files are 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from contracts.chain import Pending
from contracts.files import write_durably

FORMAT = 1


@dataclass(frozen=True)
class InFlight:
    """Every version of one nonce's transaction that was signed, oldest first."""

    nonce: int
    versions: tuple[Pending, ...]

    @property
    def fn(self) -> str:
        return self.versions[-1].fn


def _to_json(p: Pending) -> dict[str, Any]:
    return {"fn": p.fn, "hash": p.hash, "sender": p.sender, "gas_limit": p.gas_limit, "tx": p.tx}


def _from_json(data: dict[str, Any]) -> Pending:
    return Pending(str(data["fn"]), str(data["hash"]), to_checksum_address(data["sender"]), int(data["gas_limit"]),
                   dict(data["tx"]))


class Outbox:
    """One participant's in-flight transactions on one chain (default ``$HCFL_HOME/outbox``)."""

    def __init__(self, chain_id: int, address: str, folder: Path | None = None) -> None:
        from contracts.keys import hcfl_home

        self.chain_id = chain_id
        self.address = to_checksum_address(address)
        self.folder = folder or hcfl_home() / "outbox"

    def path(self, nonce: int) -> Path:
        return self.folder / f"{self.chain_id}-{self.address}-{nonce}.json"

    def record(self, pending: Pending) -> None:
        """Add ``pending`` (about to be broadcast) to its nonce's file, fsynced."""
        if pending.tx is None or pending.sender != self.address:
            raise ValueError("pending: not a transaction signed by this outbox's address")
        nonce = int(pending.tx["nonce"])
        known = self.load(nonce)
        versions = [*(known.versions if known else ()), pending]
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(nonce)
        record = {"format": FORMAT, "nonce": nonce, "versions": [_to_json(v) for v in versions]}
        write_durably(path, json.dumps(record).encode())

    def load(self, nonce: int) -> InFlight | None:
        try:
            data = json.loads(self.path(nonce).read_text())
            return InFlight(int(data["nonce"]), tuple(_from_json(v) for v in data["versions"]))
        except FileNotFoundError:
            return None
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"outbox: {self.path(nonce)} is damaged ({e}); remove it once the nonce is mined") from None

    def in_flight(self) -> list[InFlight]:
        """Every nonce with a file, lowest first."""
        if not self.folder.is_dir():
            return []
        prefix = f"{self.chain_id}-{self.address}-"
        nonces = sorted(int(p.stem.removeprefix(prefix)) for p in self.folder.glob(f"{prefix}*.json")
                        if p.stem.removeprefix(prefix).isdigit())
        return [f for f in map(self.load, nonces) if f is not None]

    def forget(self, nonce: int) -> None:
        """The nonce is used (mined) or never reached the node: drop its file."""
        self.path(nonce).unlink(missing_ok=True)
