"""contracts.keys and ``hcfl account``: encrypted keystores a participant keeps, Foundry's
read too, one-line errors, and anvil's public keys refused on a real chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from contracts import keys
from contracts.nodes import dev_accounts
from hcfl_cli.main import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HCFL_HOME", str(tmp_path / "hcfl"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    (tmp_path / "pw").write_text("correct horse\n")
    return tmp_path


def test_a_new_account_is_an_encrypted_keystore_only_its_password_opens(home: Path) -> None:
    made = keys.new_account("alice", "correct horse")
    data = json.loads(made.path.read_text())
    assert data["version"] == 3 and "crypto" in data
    assert made.path.stat().st_mode & 0o077 == 0  # readable by its owner only
    acct = keys.load_key(account="alice", password_file=home / "pw")
    assert acct.address == made.address
    (home / "bad").write_text("wrong")
    with pytest.raises(ValueError, match="password: wrong password for alice"):
        keys.load_key(account="alice", password_file=home / "bad")


def test_hcfl_account_new_import_and_list(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = Account.create()
    (home / "key").write_text(key.key.hex())
    assert main(["account", "new", "alice", "--password-file", str(home / "pw")]) == 0
    assert main(["account", "import", "bob", "--private-key-file", str(home / "key"),
                 "--password-file", str(home / "pw")]) == 0
    assert main(["account", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "bob" in out and key.address in out
    assert key.key.hex() not in out  # a key is never printed
    assert main(["account", "new", "alice", "--password-file", str(home / "pw")]) == 2
    assert "exists already" in capsys.readouterr().err


def test_foundry_keystores_are_found_by_name(home: Path) -> None:
    folder = home / ".foundry" / "keystores"
    folder.mkdir(parents=True)
    acct = Account.create()
    (folder / "deployer").write_text(json.dumps(Account.encrypt(acct.key, "correct horse")))
    assert keys.load_key(account="deployer", password_file=home / "pw").address == acct.address


def test_a_missing_account_or_two_key_sources_are_one_line_errors(home: Path) -> None:
    with pytest.raises(ValueError, match="--account: no account named 'carol'"):
        keys.load_key(account="carol", password_file=home / "pw")
    with pytest.raises(ValueError, match="give exactly one"):
        keys.load_key(account="carol", private_key="0x" + "11" * 32)


def test_anvils_public_keys_sign_only_on_a_development_chain() -> None:
    dev = dev_accounts(1)[0]
    keys.check_signer(dev, 31337)
    with pytest.raises(ValueError, match="public development keys"):
        keys.check_signer(dev, 1)
    keys.check_signer(Account.create(), 1)
