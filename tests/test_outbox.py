"""contracts.outbox: a participant's signed transactions survive its process until mined."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from contracts.chain import Pending
from contracts.outbox import Outbox


def _pending(sender: str, nonce: int, fee: int, fn: str = "commit") -> Pending:
    tx = {"to": "0x000000000000000000000000000000000000c0De", "data": "0x12", "value": 0, "gas": 90_000,
          "nonce": nonce, "chainId": 31337, "from": sender, "maxFeePerGas": fee, "maxPriorityFeePerGas": 1}
    return Pending(fn, f"0x{nonce:02x}{fee:062x}", sender, 90_000, tx)


def test_an_outbox_keeps_every_version_of_a_nonce_until_it_is_forgotten(tmp_path: Path) -> None:
    me = Account.create().address
    box = Outbox(31337, me, tmp_path)
    assert box.in_flight() == []
    first, resent, later = _pending(me, 4, 10), _pending(me, 4, 13), _pending(me, 5, 10, "reveal")
    for p in (first, resent, later):
        box.record(p)
    again = Outbox(31337, me, tmp_path)  # another process: what the first left on disk
    assert [(f.nonce, f.versions) for f in again.in_flight()] == [(4, (first, resent)), (5, (later,))]
    assert again.in_flight()[1].fn == "reveal"
    assert stat.S_IMODE(box.path(4).stat().st_mode) == 0o600
    assert Outbox(1, me, tmp_path).in_flight() == [] and Outbox(31337, Account.create().address,
                                                                 tmp_path).in_flight() == []
    again.forget(4)
    assert [f.nonce for f in box.in_flight()] == [5]


def test_an_outbox_refuses_another_senders_transaction_and_names_a_damaged_file(tmp_path: Path) -> None:
    me = Account.create().address
    box = Outbox(31337, me, tmp_path)
    with pytest.raises(ValueError, match="pending"):
        box.record(_pending(Account.create().address, 1, 10))
    box.path(2).write_text("{}")
    with pytest.raises(ValueError, match="outbox: .* is damaged"):
        box.in_flight()
