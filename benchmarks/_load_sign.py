"""Signing transactions fast enough that the client is not what the benchmark measures.

eth-account signs a few hundred transactions per second with its pure-Python curve and spends
most of its time on validation even with a native one. The load generator signs tens of
thousands of fixed EIP-1559 transactions ahead of each timed window, so it encodes them here
directly (EIP-2718 type 2: ``0x02 || rlp([chain_id, nonce, tip, max_fee, gas, to, value, data,
access_list, y_parity, r, s])``) and signs the digest with libsecp256k1 through coincurve.
Both coincurve and eth-keys use deterministic RFC 6979 nonces with low ``s``, so the bytes are
identical to eth-account's (the tests check it); without coincurve it falls back to eth-keys'
pure-Python curve, correct but slow.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_hash.auto import keccak

try:
    import coincurve

    NATIVE = True
except ImportError:  # pragma: no cover - coincurve is pinned in requirements.lock
    coincurve = None
    NATIVE = False

from eth_keys import keys as eth_keys


@dataclass(frozen=True)
class TxFields:
    """The fields of one EIP-1559 transaction; ``to`` is 20 bytes (b"" deploys)."""

    chain_id: int
    nonce: int
    max_priority_fee: int
    max_fee: int
    gas: int
    to: bytes
    value: int
    data: bytes


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction ready for ``eth_sendRawTransaction``."""

    raw: str  # 0x-hex of the EIP-2718 envelope
    hash: str  # 0x-hex keccak of the envelope: the transaction hash nodes report


class Signer:
    """Signs for one private key; keeps the parsed key so each signature is one C call."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise ValueError(f"private_key: expected 32 bytes, got {len(private_key)}")
        self._native = coincurve.PrivateKey(private_key) if NATIVE else None
        self._pure = None if NATIVE else eth_keys.PrivateKey(private_key)
        self.address = eth_keys.PrivateKey(private_key).public_key.to_checksum_address()

    def _sign(self, digest: bytes) -> tuple[int, int, int]:
        if self._native is not None:
            sig = self._native.sign_recoverable(digest, hasher=None)
            return sig[64], int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
        assert self._pure is not None
        s = self._pure.sign_msg_hash(digest)
        return s.v, s.r, s.s

    def sign(self, tx: TxFields) -> SignedTx:
        body = [tx.chain_id, tx.nonce, tx.max_priority_fee, tx.max_fee, tx.gas, tx.to,
                tx.value, tx.data, []]
        digest = keccak(b"\x02" + rlp.encode(body))
        y, r, s = self._sign(digest)
        envelope = b"\x02" + rlp.encode(body + [y, r, s])
        return SignedTx(raw="0x" + envelope.hex(), hash="0x" + keccak(envelope).hex())
