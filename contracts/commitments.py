"""The contract's pure encodings, computed the same way in Python: the sealed commitment and
the training report's chunks and running hash (SPEC section 5 steps 3 and 6).

Nothing here talks to a chain: the secret store, the auditor and the drivers all import
these, so they never disagree with each other or with ``HCFL.vy``.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from contracts.constants import REPORT_CHUNK

ZERO32 = b"\x00" * 32
"""An unset ``bytes32`` (no commitment, no salt, no node key)."""


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
