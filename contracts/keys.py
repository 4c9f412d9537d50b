"""A participant's own key: Web3 Secret Storage (v3) keystores, as eth-account, geth and
Foundry's ``cast wallet`` write them (SPEC section 8).

Keystores live in ``$HCFL_HOME/keystores`` (default ``~/.hcfl/keystores``), one file per
named account; Foundry's ``~/.foundry/keystores`` are read too (same format). A key is
chosen by ``--account NAME`` or ``--keystore PATH``, its password read from
``--password-file``, the environment (``HCFL_PASSWORD``) or a prompt; ``--private-key`` is
for development chains only. A key is never generated in memory for a real chain and
never written to a log, and anvil's well-known development keys are refused on any chain
that is not a development chain. ``KeyOptions`` is a command's choice of key, loaded once.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from contracts.files import write_private

PASSWORD_ENV = "HCFL_PASSWORD"
DEV_CHAIN_IDS = frozenset({31337, 1337})
"""anvil's and geth --dev's chain ids: the only chains where a development key may sign."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hcfl_home() -> Path:
    return Path(os.environ.get("HCFL_HOME", Path.home() / ".hcfl"))


def keystore_dirs() -> list[Path]:
    """Where named accounts are looked up: HCFL's own folder first, then Foundry's."""
    return [hcfl_home() / "keystores", Path.home() / ".foundry" / "keystores"]


def _dev_addresses() -> frozenset[str]:
    """The addresses of anvil's and hardhat's default mnemonic (its first 20 accounts)."""
    from contracts.nodes import dev_accounts

    return frozenset(a.address for a in dev_accounts(20))


@dataclass(frozen=True)
class StoredAccount:
    """One keystore file: the name it is chosen by, its address, where it is."""

    name: str
    address: str
    path: Path


def _address_of(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        return None
    address = data.get("address")
    return to_checksum_address(address) if address else "(address not recorded)"


def list_accounts() -> list[StoredAccount]:
    """Every keystore in ``keystore_dirs()``, by name (the file name)."""
    out = []
    for folder in keystore_dirs():
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                address = _address_of(path) if path.is_file() else None
                if address is not None:
                    out.append(StoredAccount(path.name.removesuffix(".json"), address, path))
    return out


def find_keystore(name: str) -> Path:
    """The keystore file of account ``name`` (``ValueError`` naming ``--account`` if none)."""
    for acct in list_accounts():
        if acct.name == name:
            return acct.path
    where = " or ".join(str(d) for d in keystore_dirs())
    raise ValueError(f"--account: no account named {name!r} in {where} (hcfl account list)")


def read_password(password_file: Path | None = None, *, confirm: bool = False, prompt: str = "password: ") -> str:
    """The keystore password: from ``password_file`` (its first line), else ``$HCFL_PASSWORD``,
    else a prompt (twice with ``confirm``)."""
    if password_file is not None:
        try:
            text = password_file.read_text()
        except OSError as e:
            raise ValueError(f"--password-file: cannot read {password_file}: {e.strerror}") from None
        return text.splitlines()[0] if text else ""
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != first:
            raise ValueError("password: the two entries differ")
    except EOFError:
        raise ValueError(f"password: none given (use --password-file or ${PASSWORD_ENV})") from None
    return first


def _write_keystore(name: str, acct: LocalAccount, password: str, folder: Path | None, **kdf: object) -> Path:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"name: use letters, digits, '.', '_' or '-' (at most 64), got {name!r}")
    if not password:
        raise ValueError("password: an empty password would leave the key unprotected")
    if folder is None and any(a.name == name for a in list_accounts()):
        raise ValueError(f"name: an account named {name!r} exists already")
    folder = folder or keystore_dirs()[0]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    try:
        write_private(path, json.dumps(Account.encrypt(acct.key, password, **kdf)).encode(), exclusive=True)
    except FileExistsError:
        raise ValueError(f"name: an account named {name!r} exists already in {folder}") from None
    return path


def new_account(name: str, password: str, folder: Path | None = None, *, scrypt_n: int | None = None) -> StoredAccount:
    """A fresh key from the operating system's randomness, written encrypted as ``name``.

    ``scrypt_n``: the keystore's scrypt work factor (eth-account's default, 2**18, unless
    given; a throw-away key of a local round takes 2**14 to decrypt in milliseconds)."""
    acct = Account.create()
    kdf = {} if scrypt_n is None else {"kdf": "scrypt", "iterations": scrypt_n}
    return StoredAccount(name, acct.address, _write_keystore(name, acct, password, folder, **kdf))


def import_account(name: str, private_key: str, password: str, folder: Path | None = None) -> StoredAccount:
    """An existing private key (hex), written encrypted as ``name``."""
    try:
        acct = Account.from_key(private_key.strip())
    except (ValueError, TypeError):
        raise ValueError("private key: not a 32-byte hex key") from None
    return StoredAccount(name, acct.address, _write_keystore(name, acct, password, folder))


def load_key(*, account: str | None = None, keystore: Path | None = None, private_key: str | None = None,
             password_file: Path | None = None) -> LocalAccount:
    """The signing key a command was given: exactly one of ``account``, ``keystore`` and
    ``private_key``; keystores are decrypted with ``read_password(password_file)``."""
    given = [x for x in (account, keystore, private_key) if x is not None]
    if len(given) != 1:
        raise ValueError("--account/--keystore/--private-key: give exactly one")
    if private_key is not None:
        try:
            return Account.from_key(private_key.strip())
        except (ValueError, TypeError):
            raise ValueError("--private-key: not a 32-byte hex key") from None
    path = keystore if keystore is not None else find_keystore(str(account))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--keystore: cannot read a keystore from {path} ({e})") from None
    try:
        key = Account.decrypt(data, read_password(password_file, prompt=f"password of {path.name}: "))
    except ValueError:
        raise ValueError(f"password: wrong password for {path.name}") from None
    return Account.from_key(key)


def check_signer(acct: LocalAccount, chain_id: int) -> None:
    """Refuse anvil's well-known development keys on a chain that is not a development
    chain: anyone can spend from them."""
    if chain_id not in DEV_CHAIN_IDS and acct.address in _dev_addresses():
        raise ValueError(f"key: {acct.address} is one of anvil's public development keys; "
                         f"it cannot sign on chain {chain_id}")


@dataclass(frozen=True)
class KeyOptions:
    """How a command was told to find its key (``load_key``'s arguments: ``--account``,
    ``--keystore``, ``--private-key``, ``--password-file``)."""

    account: str | None = None
    keystore: Path | None = None
    private_key: str | None = None
    password_file: Path | None = None

    def load(self) -> LocalAccount:
        return load_key(account=self.account, keystore=self.keystore, private_key=self.private_key,
                        password_file=self.password_file)

    @classmethod
    def of(cls, key: LocalAccount) -> KeyOptions:
        """Options that give ``key`` again without a second decryption (a process that
        decrypted its keystore once and opens several sessions)."""
        return cls(private_key=bytes(key.key).hex())
