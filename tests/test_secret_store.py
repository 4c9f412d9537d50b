"""contracts.secret_store: a participant's claims and salt survive its process, encrypted,
and a lost file is rebuilt from the key and the claims."""

from __future__ import annotations

from pathlib import Path

import boa
import pytest
from eth_account import Account

from contracts.driver import commitment
from contracts.secret_store import SecretStore, derive_salt, verify
from tests.contract_helpers import deploy

CONTRACT = "0x000000000000000000000000000000000000c0De"


def test_a_saved_secret_reads_back_only_with_its_key(tmp_path: Path) -> None:
    key = Account.create()
    store = SecretStore(key, tmp_path)
    secret = store.new_secret(31337, CONTRACT, 1, [5, 0, 7])
    path = store.save(secret)
    assert b"claims" not in path.read_bytes() and b"salt" not in path.read_bytes()  # not in the clear
    assert store.load(31337, CONTRACT, 1) == secret
    assert store.load(31337, CONTRACT, 2) is None
    other = SecretStore(Account.create(), tmp_path)
    path.rename(other.path(31337, CONTRACT, 1))
    with pytest.raises(ValueError, match="not written with this key"):
        other.load(31337, CONTRACT, 1)


def test_the_salt_is_rederived_from_the_key_and_the_claims(tmp_path: Path) -> None:
    key = Account.create()
    a = derive_salt(key, 1, CONTRACT, 3, [1, 2])
    assert a == derive_salt(key, 1, CONTRACT, 3, [1, 2])
    assert a not in {derive_salt(key, 1, CONTRACT, 4, [1, 2]), derive_salt(key, 1, CONTRACT, 3, [1, 3]),
                     derive_salt(Account.create(), 1, CONTRACT, 3, [1, 2])}
    store = SecretStore(key, tmp_path)
    on_chain = commitment(CONTRACT, 3, key.address, [1, 2], a)
    assert verify(store.recover(1, CONTRACT, 3, [1, 2], on_chain), on_chain)
    with pytest.raises(ValueError, match="do not open the commitment"):
        store.recover(1, CONTRACT, 3, [1, 9], on_chain)


def test_an_exported_backup_imports_into_a_fresh_folder(tmp_path: Path) -> None:
    key = Account.create()
    store = SecretStore(key, tmp_path / "a")
    secret = store.new_secret(1, CONTRACT, 1, [4])
    store.save(secret)
    store.export(1, CONTRACT, 1, tmp_path / "backup.json")
    assert SecretStore(key, tmp_path / "b").import_(tmp_path / "backup.json") == secret


def test_a_participant_restarted_after_its_commit_reveals_from_its_store(tmp_path: Path) -> None:
    with boa.env.anchor():
        d = deploy(deposit_per_weight=10)
        key = Account.create()
        owner = key.address
        boa.env.set_balance(owner, 10**18)
        station = d.new_account()
        d.register(owner, "owner", deposit=100)
        d.register(station, "station", deposit=10)
        d.next_phase()
        d.propose(owner, budget=10, bond=1)
        d.next_phase()
        d.commit(owner, [40], store=SecretStore(key, tmp_path))
        d.commit(station, [3])
        d.next_phase()
        d._secrets.clear()  # the driver's memory is gone, as after a crash
        d.reveal(owner, store=SecretStore(key, tmp_path))
        assert d.events("Revealed")[-1].record.claims == [40]
