"""``hcfl account new|import|list``: this participant's keys, as encrypted keystores."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser("account", help="make, import or list this participant's keys (encrypted keystores)",
                       description="Keys as Web3 Secret Storage keystores (the format of eth-account, geth and "
                       "Foundry's cast wallet) in $HCFL_HOME/keystores (default ~/.hcfl/keystores); Foundry's "
                       "~/.foundry/keystores are listed and usable too. Other commands choose one with "
                       "--account NAME. The password comes from --password-file, $HCFL_PASSWORD or a prompt.")
    p.add_argument("action", choices=["new", "import", "list"], help="new: a fresh key; import: an existing "
                   "private key; list: every account found")
    p.add_argument("name", nargs="?", help="the account's name (new, import)")
    p.add_argument("--password-file", type=Path, help="read the password from this file's first line")
    p.add_argument("--private-key-file", type=Path, help="import: read the hex private key from this file "
                   "(default: a prompt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contracts import keys

    if args.action == "list":
        accounts = keys.list_accounts()
        if not accounts:
            console.print(f"no accounts in {' or '.join(str(d) for d in keys.keystore_dirs())} "
                          "(hcfl account new NAME)")
        for a in accounts:
            console.print(f"{a.name:<24} {a.address}  {a.path}")
        return 0
    if not args.name:
        raise ValueError(f"NAME: hcfl account {args.action} needs the new account's name")
    password = keys.read_password(args.password_file, confirm=True)
    if args.action == "new":
        made = keys.new_account(args.name, password)
    else:
        if args.private_key_file is not None:
            try:
                secret = args.private_key_file.read_text().strip()
            except OSError as e:
                raise ValueError(f"--private-key-file: cannot read {args.private_key_file}: {e.strerror}") from None
        else:
            import getpass

            secret = getpass.getpass("private key (hex): ")
        made = keys.import_account(args.name, secret, password)
    console.print(f"{made.name}: {made.address}, encrypted in {made.path}")
    return 0
