"""The JSON-RPC transport: one kept-alive HTTP connection to a node, and what a node's failure
looks like to a user.

``JsonRpc`` sends single calls and batches (web3.py's ``HTTPProvider`` is what ``RpcChain``
signs and decodes through; this lighter client is for the hot paths: receipts, logs,
simulations, the load generator). ``wait_for_receipts`` polls receipts in batches.

``node_error(exc, url)`` turns whatever a provider raised (a JSON-RPC error object, an HTTP
status such as 429, a timeout, a refused connection) into a ``NodeError`` whose one line
names the node, or None for an exception that is not a provider's: the ``hcfl`` command
prints that line instead of a traceback.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

class RpcError(RuntimeError):
    """The node answered a JSON-RPC error object."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)}")
        self.method = method
        self.error = error


class JsonRpc:
    """A minimal JSON-RPC 2.0 client: single calls and batches on one HTTP/1.1 connection."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected http(s)://host:port, got {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._path = parts.path or "/"
        self._https = parts.scheme == "https"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._next_id = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, payload: Any) -> Any:
        """POST one JSON body and return the decoded answer (reconnects once if dropped)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
                continue
            if resp.status != 200:
                raise RpcError("http", {"message": f"HTTP {resp.status}: {data[:200]!r}", "status": resp.status})
            return json.loads(data)
        raise AssertionError("unreachable")

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        self._next_id += 1
        answer = self.post({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                            "params": list(params)})
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """Send many calls in one request; answers come back in the calls' order, each a
        ``{"result": ...}`` or ``{"error": ...}`` dict (errors are not raised: the caller
        counts them)."""
        if not calls:
            return []
        first = self._next_id + 1
        self._next_id += len(calls)
        payload = [{"jsonrpc": "2.0", "id": first + k, "method": m, "params": list(p)}
                   for k, (m, p) in enumerate(calls)]
        answer = self.post(payload)
        if isinstance(answer, dict):  # a node that refuses the whole batch answers one error
            raise RpcError("batch", answer.get("error", answer))
        by_id = {a.get("id"): a for a in answer}
        return [by_id.get(first + k, {"error": {"message": "no answer"}})
                for k in range(len(calls))]

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_receipts(rpc: JsonRpc, hashes: Sequence[str], timeout: float = 120.0,
                      chunk: int = 1000, raise_on_revert: bool = True) -> list[dict[str, Any]]:
    """Receipts of ``hashes`` once all are mined (polling in batches), as the node sent
    them (hex strings); raises on a revert unless ``raise_on_revert`` is false."""
    pending = list(hashes)
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise NotMined(f"{len(pending)} transactions not mined within {timeout:.0f} s")
        still = []
        for i in range(0, len(pending), chunk):
            part = pending[i:i + chunk]
            for h, a in zip(part, rpc.batch([("eth_getTransactionReceipt", [h]) for h in part])):
                receipt = a.get("result")
                if receipt is None:
                    still.append(h)
                elif raise_on_revert and int(receipt["status"], 16) != 1:
                    raise RuntimeError(f"transaction {h} reverted")
                else:
                    got[h] = receipt
        pending = still
        if pending:
            time.sleep(0.05)
    return [got[h] for h in hashes]


class NotMined(TimeoutError):
    """A transaction the node did not mine in time: it may still be mined, and a command
    run again reads the chain first and does not send it twice."""


class NodeError(RuntimeError):
    """A node (or the provider in front of it) failed or refused a request; ``str()`` is one
    line that names the node."""

    def __init__(self, url: str | None, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"the node at {url}: {message}" if url else f"the node: {message}")


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def node_error(exc: BaseException, url: str | None) -> NodeError | None:
    """``exc`` as a one-line ``NodeError`` naming the node at ``url`` when it is a provider's
    failure (an error object, an HTTP error such as a rate limit, a timeout, no connection);
    None for any other exception, which is a bug to show whole."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, NotMined):
        return None  # ours: the node answered, the transaction is not mined yet
    try:
        from web3.exceptions import ProviderConnectionError, TimeExhausted, Web3RPCError
    except ImportError:  # pragma: no cover (web3 is a dependency)
        ProviderConnectionError = TimeExhausted = Web3RPCError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error") if isinstance(getattr(exc, "rpc_response", None), dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return NodeError(url, f"refused the request: {message or exc.message or exc}")
    status = _http_status(exc)
    if isinstance(exc, RpcError):
        status = exc.error.get("status") if exc.method == "http" else None
        if status is None:
            return NodeError(url, f"refused {exc.method}: {exc.error.get('message', exc.error)}")
    if status == 429:
        return NodeError(url, "rate limit: the provider answers HTTP 429 Too Many Requests; try again later")
    if status is not None:
        return NodeError(url, f"answered HTTP {status}")
    if isinstance(exc, TimeExhausted):
        return NodeError(url, str(exc))
    name = type(exc).__name__.lower()
    if isinstance(exc, TimeoutError) or "timeout" in name:
        return NodeError(url, f"did not answer in time ({type(exc).__name__})")
    if isinstance(exc, (ProviderConnectionError, ConnectionError, http.client.HTTPException)) or (
            isinstance(exc, OSError) and type(exc).__module__.startswith(("requests", "urllib3", "socket"))):
        return NodeError(url, f"cannot be reached ({type(exc).__name__})")
    return None
