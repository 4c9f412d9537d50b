"""A JSON-RPC proxy that behaves like a public provider, in front of a local node.

It refuses ``anvil_*``, ``evm_*``, ``debug_*`` and ``eth_sendTransaction`` (no unlocked
accounts, no time control, no cheats) and answers ``eth_accounts`` with ``[]``; everything
else goes to the node behind it. Tests run the chain side through it, so that nothing
works only because the node is a development node.

``on_call``: a test's hook, called with each forwarded call and the node's answer before
the answer goes back to the client. A test that kills the client there (SIGKILL) has a
process that died right after the node accepted its transaction, before it learnt so.

Providers differ from a development node in more ways, each a keyword: ``extra_data=97``
serves every block with a 97-byte ``extraData`` (a proof-of-authority chain: geth's clique,
BSC, Polygon PoS); ``status=429`` answers every request with that HTTP status (a rate
limit); ``delay`` (method -> seconds) answers those methods that late (a slow provider).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contracts.nodes import JsonRpc

REFUSED_PREFIXES = ("anvil_", "evm_", "debug_", "hardhat_")
REFUSED_METHODS = {"eth_sendTransaction"}


def refused(method: str) -> bool:
    return method.startswith(REFUSED_PREFIXES) or method in REFUSED_METHODS


@contextlib.contextmanager
def strict_proxy(upstream: str, on_call: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
                 refuse: frozenset[str] = frozenset(), batches: bool = True, *, extra_data: int | None = None,
                 status: int | None = None, delay: dict[str, float] | None = None) -> Iterator[str]:
    """Serve the proxy on a free loopback port for the ``with`` block; yields its URL.
    ``refuse``: further methods it answers as unknown (a node older or plainer than anvil);
    ``batches=False``: a JSON-RPC batch is answered with one error (providers that take none);
    ``extra_data``, ``status``, ``delay``: see the module docstring."""
    lock = threading.Lock()
    node = JsonRpc(upstream)

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        method = call.get("method", "")
        base = {"jsonrpc": "2.0", "id": call.get("id")}
        if refused(method) or method in refuse:
            return {**base, "error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}}
        if method == "eth_accounts":
            return {**base, "result": []}
        if delay and method in delay:
            time.sleep(delay[method])
        with lock:
            out = node.post(call)
        if extra_data is not None and method.startswith("eth_getBlockBy") and isinstance(out.get("result"), dict):
            out = {**out, "result": {**out["result"], "extraData": "0x" + "ab" * extra_data}}
        if on_call is not None:
            on_call(call, out)
        return out

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if status is not None:  # the provider refuses before it reads the request
                data = json.dumps({"error": "too many requests"}).encode()
            elif isinstance(body, list) and not batches:
                data = json.dumps({"jsonrpc": "2.0", "id": None,
                                   "error": {"code": -32600, "message": "batches are not allowed"}}).encode()
            else:
                try:
                    out = [answer(c) for c in body] if isinstance(body, list) else answer(body)
                except OSError:  # a delayed answer outlived the node (the test is over)
                    return
                data = json.dumps(out).encode()
            try:
                self.send_response(status or 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client was killed (on_call)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        node.close()
