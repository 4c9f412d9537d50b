"""The load engine: pre-signed transactions sent at a controlled rate, tracked to their block.

One single-threaded loop alternates between three things, every few milliseconds:

1. **send** every planned transaction whose time has come, in one JSON-RPC batch of
   ``eth_sendRawTransaction`` (the transactions were signed before the timed window, so the
   loop only moves bytes);
2. **watch** the chain: ``eth_blockNumber``, then each new block's transaction hashes
   (``eth_getBlockByNumber(n, false)``), stamped with the time the block was first seen;
3. **open gates**: a workload is a list of *flows* (one auction round, or the stream of
   plain transfers), each a sequence of *stages*; a stage is scheduled once the previous one
   is mined and, where the contract requires it, the chain's clock has passed the phase's
   deadline (``deadline`` = the entering transaction's block timestamp + the phase length).

New work (a round's first stage, a transfer) is held back while more than ``max_outstanding``
transactions are sent but not mined, so an overloaded node sees a bounded queue instead of an
ever-growing one. That cap sees only the moment: a round, once started, still has to send its
commits, reveals, settlements and withdrawals, each within its phase, seconds later. So with
``admission`` a new round is also refused (skipped) unless the node, at its measured
capacity, can take its transactions on top of the later stages that the rounds already
started will send, bin by bin as their plan times them (``admits``); past saturation fewer
rounds start and the rounds that do keep their deadlines. The *offered* rate that the
results report is what was actually sent, not the target. Receipts (status, gas) are
fetched after the run, outside the timing.

Measures are taken in a steady-state window that starts after a warm-up (the pipeline of
overlapping rounds filling up): transactions sent in the window / its length (offered),
our transactions mined in blocks first seen in the window / its length (confirmed),
transactions per block over the blocks seen in it (empty ones included), and the latency
from send to the block being seen for transactions sent in it.

Modules: this one (the engine: its settings, what it has seen of the chain, the receipts and
the measures), ``_load_run`` (one run's state and each step of its loop), ``_load_flows``
(the transactions, stages, flows and results), ``_load_admission`` (``admits`` and its
ledger), ``_load_miner`` (blocks on demand).
"""

from __future__ import annotations

import time
from collections import Counter

from benchmarks._load_flows import Flow, LoadResult, PTx, Window, percentile
from benchmarks._load_run import Run
from contracts.nodes import JsonRpc

# seconds of confirmations that the adaptive cap on new work looks back over, by default
CAP_MEMORY_S = 4


class Engine:
    """Runs flows against one node (see the module docstring)."""

    def __init__(self, url: str, *, tick: float = 0.004, batch: int = 500,
                 max_outstanding: int | None = None, deadline_margin: float = 0.05,
                 timeout: float = 120.0, send_interval: float = 0.0,
                 cap_horizon: float | None = None, kick_after: float | None = None,
                 mine_on_demand: bool = False, mine_interval: float = 0.0,
                 cap_memory: int = CAP_MEMORY_S, admission: bool = False,
                 block_time: float | None = None, behind_s: float | None = None) -> None:
        """``max_outstanding``: fixed cap on sent-but-unmined transactions for new work;
        ``cap_horizon``: or an adaptive one, this many seconds of the confirmation rate
        (the best whole second of the last ``cap_memory``; at least 64, and at least
        ``max_outstanding`` when both are given). ``timeout``:
        seconds a run may take (twice that while the node still mines its transactions).
        ``kick_after``: on a node that mines on demand, call ``evm_mine`` when transactions
        wait that long without a new block (anvil 1.7.1's automine can leave ready
        transactions unmined under load); counted. ``admission``: also refuse a skippable
        flow whose transactions, with the later stages of flows already started, would
        queue up past ``cap_horizon`` at the node's capacity (``admits``; stages need
        ``planned``); the capacity is measured where it can be: on a node our miner drives
        (``mine_on_demand``) from its block-building time and the confirmations, on one
        with ``block_time`` from the gas limit and the mean gas of our transactions;
        elsewhere, and until the first measure, only the cap applies. ``behind_s``: also
        refuse a skippable flow while one of our transactions has waited longer than this
        unmined (the node is behind whatever its measured capacity says)."""
        if admission and cap_horizon is None:
            raise ValueError("cap_horizon: admission needs the seconds of queue it may allow")
        self.rpc = JsonRpc(url, timeout=60.0)
        self.tick = tick
        self.batch = batch
        self.max_outstanding = max_outstanding
        self.deadline_margin = deadline_margin
        self.timeout = timeout
        self.send_interval = send_interval
        self.cap_horizon = cap_horizon
        self.cap_memory = cap_memory
        self.kick_after = kick_after
        self.kicks = 0
        self.mine_on_demand = mine_on_demand
        self.mine_interval = mine_interval
        self.admission = admission
        self.block_time = block_time
        self.behind_s = behind_s
        self.gas_limit = 0  # of the last block seen
        # chain state seen so far
        self.block_seen: dict[int, float] = {}
        self.block_ts: dict[int, int] = {}
        self.block_ntx: dict[int, int] = {}
        self.block_gas: dict[int, int] = {}
        self.last_block = int(self.rpc.call("eth_blockNumber"), 16)
        self.errors: list[str] = []

    # -- chain watching --------------------------------------------------------------------
    def poll(self, by_hash: dict[str, tuple[PTx, Flow | None]]) -> tuple[list[Flow], int]:
        """Fetch new blocks; mark our transactions mined; return the flows whose current
        stage completed and how many of our transactions were mined."""
        head = int(self.rpc.call("eth_blockNumber"), 16)
        if head <= self.last_block:
            return [], 0
        mined = 0
        now = time.monotonic()
        finished: list[Flow] = []
        numbers = list(range(self.last_block + 1, head + 1))
        for i in range(0, len(numbers), 200):
            part = numbers[i:i + 200]
            answers = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, a in zip(part, answers):
                block = a.get("result")
                if block is None:  # not served yet: fetch it next time
                    head = n - 1
                    break
                self.block_seen[n] = now
                self.block_ts[n] = int(block["timestamp"], 16)
                self.block_ntx[n] = len(block["transactions"])
                self.block_gas[n] = int(block["gasUsed"], 16)
                self.gas_limit = int(block["gasLimit"], 16)
                for h in block["transactions"]:
                    hit = by_hash.get(h)
                    if hit is None:
                        continue
                    ptx, flow = hit
                    if ptx.block is not None:
                        continue
                    ptx.block = n
                    mined += 1
                    if flow is not None:
                        flow.unmined -= 1
                        if flow.unmined == 0:
                            finished.append(flow)
            else:
                continue
            break
        self.last_block = max(self.last_block, head)
        return finished, mined

    # -- the loop ----------------------------------------------------------------------------
    def run(self, flows: list[Flow], window: Window) -> LoadResult:
        """Send ``flows`` (``benchmarks._load_run.Run``), then fetch the receipts and measure
        ``window``."""
        run = Run(self, flows)
        try:
            run.loop()
        finally:
            run.close()
        self._receipts(run.sent())
        return self._measure(list(run.by_hash.values()), flows, window)

    def _receipts(self, txs: list[PTx]) -> None:
        """Status and gas of every sent transaction (after the timed part)."""
        for i in range(0, len(txs), 1000):
            part = txs[i:i + 1000]
            answers = self.rpc.batch([("eth_getTransactionReceipt", [p.hash]) for p in part])
            for p, a in zip(part, answers):
                r = a.get("result")
                if r is None:
                    continue
                p.status = int(r["status"], 16)
                p.gas_used = int(r["gasUsed"], 16)
                if p.block is None:
                    p.block = int(r["blockNumber"], 16)

    def _measure(self, hits: list[tuple[PTx, Flow | None]], flows: list[Flow],
                 window: Window) -> LoadResult:
        txs = [p for p, _ in hits]
        length = max(1e-9, window.end - window.start)
        sent_in = [p for p in txs if p.sent is not None and window.start <= p.sent < window.end]
        in_window = [n for n, t in self.block_seen.items() if window.start <= t < window.end]
        in_set = set(in_window)
        mined_in = [p for p in txs if p.block in in_set and p.status == 1]
        latencies = [self.block_seen[p.block] - p.sent for p in sent_in
                     if p.block is not None and p.block in self.block_seen and p.sent is not None]
        counts = [self.block_ntx[n] for n in in_window]
        # every transaction of a flow that ran must end mined and successful: a revert, a
        # refused send, or one left unsent because its flow broke or the run timed out fails
        failures = Counter(f"{p.fn} {_why_failed(p)}" for f in flows if not f.skipped
                           for st in f.stages for p in st.txs if p.status != 1)
        failed = sum(failures.values())
        self.errors += [f"{k} x {v}" for k, v in sorted(failures.items())]
        gas: dict[str, list[int]] = {}
        for p in txs:
            if p.gas_used is not None and p.status == 1:
                gas.setdefault(p.fn, []).append(p.gas_used)
        return LoadResult(
            offered_tps=len(sent_in) / length,
            confirmed_tps=len(mined_in) / length,
            tx_per_block_mean=sum(counts) / len(counts) if counts else 0.0,
            tx_per_block_max=max(counts) if counts else 0,
            latency_p50_s=percentile(latencies, 0.50),
            latency_p99_s=percentile(latencies, 0.99),
            failed=failed,
            sent=sum(1 for p in txs if p.sent is not None),
            confirmed=sum(1 for p in txs if p.status == 1),
            gas_by_fn={fn: sum(v) / len(v) for fn, v in sorted(gas.items())},
            gas_max_by_fn={fn: max(v) for fn, v in sorted(gas.items())},
            gas_per_block_mean=(sum(self.block_gas[n] for n in in_window) / len(in_window)
                                if in_window else 0.0),
            flows_done=sum(1 for f in flows if f.done and not f.skipped and all(
                p.status == 1 for p in f.stages[-1].txs)),
            skipped=sum(1 for f in flows if f.skipped),
            kicks=self.kicks,
            errors=tuple(dict.fromkeys(self.errors))[:10],
        )

    def close(self) -> None:
        self.rpc.close()


def _why_failed(p: PTx) -> str:
    return ("reverted" if p.status == 0 else "refused" if p.error
            else "not mined" if p.sent is not None else "not sent")
