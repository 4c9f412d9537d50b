"""``hcfl web``: serve a read-only, live page of a deployment from the chain alone.

``add_parser(subparsers)`` adds the command, ``run(args)`` serves until Ctrl-C.
``start_for(rpc, deployment)`` serves the page in a thread of the calling process (``hcfl
localnet --web``). Bad input is a ``ValueError`` naming the option; a node that does not
answer yet is no error: the page says so until it does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_PORT = 8000


def source(rpc: str, *, deployment: Path | None = None, address: str | None = None, poll_s: float = 1.0,
           allow_file_documents: bool = False, say=None):  # type: ignore[no-untyped-def]
    """The page's ``Source`` from the options, checked against the node when it answers."""
    from eth_utils import is_address, to_checksum_address

    from contracts.deployment_file import DeploymentFile
    from hcfl_cli.web.app import Source
    from hcfl_cli.web.chain_reader import ChainReader, NodeError, WrongNode
    from hcfl_cli.web.watch import Expected, check_node

    if not rpc.startswith(("http://", "https://")):
        raise ValueError(f"--rpc: expected an http(s):// URL, got {rpc!r}")
    if not poll_s >= 0.1:
        raise ValueError(f"--poll: at least 0.1 seconds, got {poll_s}")
    if deployment is not None:
        f = DeploymentFile.read(deployment)
        src = Source(rpc, f.address, f.block, Expected.of(f), poll_s, allow_file_documents)
        option = "--deployment"
    else:
        if address is None or not is_address(address):
            raise ValueError(f"--address: not an address: {address!r}")
        src = Source(rpc, to_checksum_address(address), 0, None, poll_s, allow_file_documents)
        option = "--address"
    try:
        reader = ChainReader(rpc, src.address)
        check_node(reader, src.expected)
        reader.parameters()  # an HCFL contract answers its views
    except WrongNode as e:
        raise ValueError(f"{option}: {e}") from None
    except NodeError as e:
        if say is not None:
            say(f"the node does not answer yet ({e}); the page says so and shows the deployment once it does")
    return src


def add_parser(subparsers) -> None:  # type: ignore[no-untyped-def]
    p = subparsers.add_parser(
        "web", help="serve a live, read-only page of a deployment (its rounds, outcomes, votes, plots, audit)",
        description="Serve a read-only web page of an HCFL deployment built from the chain alone (views and "
        "event logs; no key, nothing is sent): the deployment's parameters; the current round live (phase and "
        "countdown, every participant's progress, the proposals with their description documents checked "
        "against the sha256 on chain); after close the winner, every proposal's welfare and every "
        "participant's claims, tax, share and payment; after training the report and the owners' votes; "
        "plots across rounds and the audit of every closed round against mechanism.settle (as hcfl audit). "
        "The page updates itself while it is open. Anyone can run it against any node.")
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--deployment", type=Path, help="the deployment file (hcfl deploy): the node's chain id and "
                       "the contract's code are checked against it, and logs are read from its block on")
    which.add_argument("--address", help="the HCFL contract's address (logs are read from block 0)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0 serves the page to the network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between two looks at the node (default 1)")
    p.add_argument("--file-documents", action="store_true", help="also fetch description documents given as file "
                   "paths on this machine (default: http(s) URIs only, since the URIs come from the chain)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hcfl_cli.web.app import WebServer, is_loopback

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: expected 0..65535, got {args.port}")
    src = source(args.rpc, deployment=args.deployment, address=args.address, poll_s=args.poll,
                 allow_file_documents=args.file_documents, say=lambda m: print(f"hcfl web: {m}", file=sys.stderr))
    server = WebServer(src, args.host, args.port)
    if not is_loopback(args.host):
        print(f"hcfl web: listening on {args.host}: anyone who reaches this machine can read the page "
              "(it is read-only)", file=sys.stderr)
    print(f"hcfl web: the page of {src.address} is at {server.url} (Ctrl-C stops it)", flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:  # uvicorn stops gracefully, then passes Ctrl-C on: the normal end
        pass
    return 0


def start_for(rpc: str, deployment: Path, host: str = "127.0.0.1", port: int = 0):  # type: ignore[no-untyped-def]
    """The page of the deployment in file ``deployment``, served from a thread of this
    process (stop it with ``close()``); its ``url`` is where to look."""
    from hcfl_cli.web.app import WebServer

    return WebServer(source(rpc, deployment=deployment), host, port).start()


def hold() -> None:
    """Keep the process (and the page) up until Ctrl-C or SIGTERM's KeyboardInterrupt."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
