"""``hcfl node-key``: a station's Flower node key pair (P-384), made once, and the public key
file to give the organizer for the station's ticket."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from hcfl_cli.commands.common import say


def add_parser(sub: Any) -> None:
    p = sub.add_parser("node-key", help="make a station's Flower node key pair (once) and show its public key",
                       description="Make a station's Flower node key pair (P-384, the kind Flower's SuperNode "
                       "authentication takes) in a folder, once, and print the public key's file and sha256: the "
                       "organizer puts that hash in the station's ticket (hcfl admit --node-public-key FILE). Run "
                       "again, it keeps the key pair it made. The agent's config names the same folder (flower = ...).")
    p.add_argument("--folder", type=Path, default=None,
                   help="where node.key (0600) and node.pub go (default: $HCFL_HOME/flower)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contracts.keys import hcfl_home
    from hcfl_cli.agent_train import ensure_node_keys

    folder = args.folder if args.folder is not None else hcfl_home() / "flower"
    made = not (folder / "node.pub").exists()
    pub = ensure_node_keys(folder)
    say(f"node public key {pub} (sha256 {hashlib.sha256(pub.read_bytes()).hexdigest()})"
        + ("" if made else ", made before") + ": give it to the organizer, who puts its hash in your ticket "
        "(hcfl admit --node-public-key)")
    return 0
