"""Blocks on demand: the load engine's miner thread for a node started with ``--no-mining``."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from contracts.nodes import JsonRpc, RpcError


class Miner:
    """Asks a ``--no-mining`` node for a block (``evm_mine``) whenever transactions wait, from
    its own thread and connection.

    Why a thread: ``evm_mine`` returns only once the block is built, and a loop that sent,
    then mined, then watched would leave one core idle while the other works. Here the node
    builds block k while the load loop signs nothing (all is pre-signed) but sends the
    transactions of block k+1 and reads block k-1, so the node and the client overlap.
    """

    def __init__(self, url: str, min_interval: float = 0.0) -> None:
        self._rpc = JsonRpc(url, timeout=60.0)
        # seconds from the start of one block to the next: larger blocks spread the node's
        # per-block work (state root, receipts root, block hash) over more transactions
        self.min_interval = min_interval
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self.blocks = 0
        self._last = -math.inf
        # (start, end) of recent evm_mine calls, and the start of the one under way: how
        # long the node spent building blocks, for the admission control's capacity
        self._busy: deque[tuple[float, float]] = deque(maxlen=4096)
        self._mining_since: float | None = None
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="hcfl-miner", daemon=True)
        self._thread.start()

    def want(self) -> None:
        """Something waits in the pool: mine a block (now, or right after the one under way)."""
        self._wanted.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wanted.wait(0.05):
                continue
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._wanted.clear()
            self._last = self._mining_since = time.monotonic()
            try:
                self._rpc.call("evm_mine")
                self.blocks += 1
            except (RpcError, OSError) as exc:
                self.errors.append(f"evm_mine: {exc}")
            self._busy.append((self._last, time.monotonic()))
            self._mining_since = None

    def busy_since(self, since: float) -> float:
        """Seconds since ``since`` (time.monotonic) that the node spent building blocks."""
        busy = sum(end - max(start, since) for start, end in list(self._busy) if end > since)
        current = self._mining_since
        return busy + (time.monotonic() - max(current, since) if current is not None else 0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=70.0)
        self._rpc.close()
