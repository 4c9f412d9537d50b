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
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts.nodes import JsonRpc, RpcError

# seconds of confirmations that the adaptive cap on new work looks back over, by default
CAP_MEMORY_S = 4
# past its timeout, a run ends once none of its transactions was mined for this long
STALL_S = 10.0
# the admission control's capacity on a node that our miner drives: our transactions mined
# over the node's block-building time in the last this many seconds (a few bursts of
# phases), or the best whole second of confirmations, whichever is more; kept from the last
# time at least CAPACITY_MIN_MINED were mined in the window (fewer say little: the node was
# idle, e.g. while rounds were refused). Both are rates the node did reach, so they are not
# discounted; the gas limit's bound on a node with block times is, by this share
CAPACITY_WINDOW_S = 2.0
CAPACITY_MIN_MINED = 200
CAPACITY_SHARE = 0.9


@dataclass
class PTx:
    """A planned transaction and what happened to it (mutable: the engine fills it in)."""

    raw: str
    hash: str
    fn: str
    sent: float | None = None
    block: int | None = None
    error: str | None = None
    status: int | None = None
    gas_used: int | None = None


@dataclass
class Stage:
    """Transactions that may go out together once the stage's gate is open.

    ``spread``: seconds over which they are sent evenly (0: at once). ``after_deadline``:
    also wait until the flow's current phase deadline has passed on the chain's clock.
    ``phase_seconds``: this stage's (single) transaction enters a phase of that length, so
    the flow's deadline becomes its block's timestamp plus this.
    ``at``: for a flow's first stage, the wall-clock time it starts (else when gated).
    ``planned``: when the plan expects the stage to start (``time.monotonic``), for the
    admission control; None: not counted in it.
    """

    txs: list[PTx]
    spread: float = 0.0
    after_deadline: bool = False
    phase_seconds: int | None = None
    at: float | None = None
    new_work: bool = False
    planned: float | None = None


@dataclass
class Flow:
    """An ordered list of stages (one round, or one stream of transfers)."""

    stages: list[Stage]
    deadline: int | None = None  # chain timestamp (s) that the next gated stage waits for
    current: int = -1  # index of the stage scheduled last
    unmined: int = 0  # transactions of the current stage not mined yet
    done: bool = False
    skippable: bool = False  # skip the whole flow (not hold it) when the node is behind
    skipped: bool = False
    counted: bool = False  # its unscheduled stages are in the admission control's ledger


@dataclass(frozen=True)
class Window:
    """The steady-state interval that the measures refer to (wall-clock, time.monotonic)."""

    start: float
    end: float


@dataclass(frozen=True)
class Measures:
    """The figures of a run's window (see the module docstring for the definitions)."""

    offered_tps: float
    confirmed_tps: float
    tx_per_block_mean: float
    tx_per_block_max: int
    latency_p50_s: float
    latency_p99_s: float
    failed: int


@dataclass(frozen=True)
class LoadResult(Measures):
    """What one run measured: its window's figures and the run's totals."""

    sent: int
    confirmed: int
    gas_by_fn: dict[str, float]  # mean gasUsed of the successful calls of each function
    gas_per_block_mean: float
    flows_done: int
    gas_max_by_fn: dict[str, int] = field(default_factory=dict)  # their largest gasUsed
    skipped: int = 0
    kicks: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))
    return s[k]


# The admission control's time bins (seconds): fine enough to see a phase's burst of stages
# (spread over 0.5 s), coarse enough that a decision walks a round's ~160 bins, not thousands
ADMISSION_BIN_S = 0.1


def time_bin(t: float, bin_s: float = ADMISSION_BIN_S) -> int:
    """The admission bin of time ``t`` (``t / bin_s`` rounded down: ``3.0 // 0.1`` is 29)."""
    return math.floor(t / bin_s)


def stage_load(stage: Stage, bin_s: float = ADMISSION_BIN_S) -> Counter[int]:
    """The stage's transactions by the time bin the plan sends them in (``planned``, spread
    evenly as the engine sends them); empty for a stage with no plan."""
    load: Counter[int] = Counter()
    if stage.planned is None:
        return load
    n = len(stage.txs)
    for k in range(n):
        load[time_bin(stage.planned + (stage.spread * k / n if n > 1 else 0.0), bin_s)] += 1
    return load


def admits(*, capacity_tps: float, backlog: int, committed: Mapping[int, int],
           new: Mapping[int, int], now_bin: int, bin_s: float = ADMISSION_BIN_S,
           max_delay_s: float) -> bool:
    """Whether a new flow may start: would the node, confirming ``capacity_tps``, still
    mine every transaction within ``max_delay_s`` of its planned send if the new flow's
    transactions (``new``: time bin -> count) joined what is promised already?

    What is promised: ``backlog`` (sent or queued, not mined) and ``committed``, the
    transactions of the later stages of flows already started, by the bin their plan sends
    them in (those of bins before ``now_bin`` are late: due now). Rounds must send those
    stages, at those times, or miss their phase deadlines, so a cap on the unmined
    transactions of the moment alone admits rounds whose later stages then overload the
    node. The queue is played forward bin by bin, draining ``capacity_tps * bin_s`` each;
    the flow is refused only where its own transactions push the queue past
    ``capacity_tps * max_delay_s`` (a queue that is long already without them, and short
    again before they come, is not held against it).
    """
    if not capacity_tps > 0:
        raise ValueError(f"capacity_tps: expected > 0, got {capacity_tps}")
    if not bin_s > 0:
        raise ValueError(f"bin_s: expected > 0, got {bin_s}")
    limit = capacity_tps * max_delay_s
    drain = capacity_tps * bin_s
    late = sum(n for b, n in committed.items() if b < now_bin)
    late_new = sum(n for b, n in new.items() if b < now_bin)
    without = float(backlog + late)
    with_new = without + late_new
    last = max(max(committed, default=now_bin), max(new, default=now_bin))
    for b in range(now_bin, last + 1):
        arrive = committed.get(b, 0)
        without = max(0.0, without + arrive - drain)
        with_new = max(0.0, with_new + arrive + new.get(b, 0) - drain)
        if with_new > limit and with_new > without:
            return False
    return True


class Ledger:
    """The admission control's account: the transactions of the later stages of the flows
    admitted so far, by the time bin their plan sends them in, until they are scheduled."""

    def __init__(self, bin_s: float = ADMISSION_BIN_S) -> None:
        self.bin_s = bin_s
        self.bins: Counter[int] = Counter()

    def admit(self, flow: Flow, *, capacity_tps: float | None, backlog: int, now: float,
              max_delay_s: float) -> bool:
        """Whether ``flow`` may start (``admits``; always where the capacity is unknown);
        if so, its stages after the first go in the ledger (the first goes straight to the
        send queue, which the backlog counts)."""
        later: Counter[int] = Counter()
        for st in flow.stages[1:]:
            later.update(stage_load(st, self.bin_s))
        if capacity_tps is not None and not admits(
                capacity_tps=capacity_tps, backlog=backlog, committed=self.bins,
                new=stage_load(flow.stages[0], self.bin_s) + later,
                now_bin=time_bin(now, self.bin_s), bin_s=self.bin_s, max_delay_s=max_delay_s):
            return False
        self.bins.update(later)
        flow.counted = True
        return True

    def scheduled(self, flow: Flow) -> None:
        """The flow's stage ``flow.current`` went to the send queue: out of the ledger."""
        if flow.counted and flow.current > 0:
            self._remove(flow.stages[flow.current])

    def given_up(self, flow: Flow) -> None:
        """The flow ended (done, or broken): its stages not scheduled will not come."""
        if flow.counted:
            for st in flow.stages[flow.current + 1:]:
                self._remove(st)
            flow.counted = False

    def _remove(self, stage: Stage) -> None:
        for b, n in stage_load(stage, self.bin_s).items():
            self.bins[b] -= n
            if self.bins[b] <= 0:
                del self.bins[b]


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


class Engine:
    """Runs flows against one node (see the module docstring)."""

    def __init__(self, url: str, *, tick: float = 0.004, batch: int = 500,
                 max_outstanding: int | None = None, deadline_margin: float = 0.05,
                 timeout: float = 120.0, send_interval: float = 0.0,
                 cap_horizon: float | None = None, kick_after: float | None = None,
                 mine_on_demand: bool = False, mine_interval: float = 0.0,
                 cap_memory: int = CAP_MEMORY_S, admission: bool = False,
                 block_time: float | None = None) -> None:
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
        elsewhere, and until the first measure, only the cap applies."""
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
        self.gas_limit = 0  # of the last block seen
        # chain state seen so far
        self.block_seen: dict[int, float] = {}
        self.block_ts: dict[int, int] = {}
        self.block_ntx: dict[int, int] = {}
        self.block_gas: dict[int, int] = {}
        self.last_block = int(self.rpc.call("eth_blockNumber"), 16)
        self.errors: list[str] = []

    # -- chain watching --------------------------------------------------------------------
    def _poll(self, by_hash: dict[str, tuple[PTx, Flow | None]]) -> tuple[list[Flow], int]:
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
        by_hash: dict[str, tuple[PTx, Flow | None]] = {}
        for flow in flows:
            for stage in flow.stages:
                for ptx in stage.txs:
                    by_hash[ptx.hash] = (ptx, flow)
        queue: list[tuple[float, int, PTx, bool]] = []  # (due, seq, tx, is new work)
        seq = itertools.count()
        outstanding = 0
        # flows whose next stage waits for a deadline, by the wall-clock time it opens: a heap,
        # as a scan of every waiting flow on every tick cost this loop more CPU than all its
        # sending and polling at ~2,000 round tx/s (cProfile: 12 million gate checks a run)
        waiting: list[tuple[float, int, Flow]] = []
        # flows start at their first stage's planned time
        starts = sorted(((f.stages[0].at or 0.0), k) for k, f in enumerate(flows))
        start_i = 0
        started_at = time.monotonic()
        done = [0]
        last_send = -math.inf
        last_progress = time.monotonic()  # a new block seen
        last_mined = time.monotonic()  # one of our transactions seen mined
        last_kick = -math.inf
        last_pool_check = -math.inf

        # confirmations per whole second of the run: the node's recent capacity is the best of
        # the last few seconds, not the last one alone; rounds send in bursts (a phase opens
        # for many rounds at once), and a cap taken from a quiet second skipped the rounds of
        # the next burst, whose missing stages then came back at every phase length
        per_second: dict[int, int] = {}

        def cap() -> float:
            if self.cap_horizon is None:
                return math.inf if self.max_outstanding is None else self.max_outstanding
            sec = int(time.monotonic())
            rate = max((per_second.get(k, 0) for k in range(sec - self.cap_memory, sec + 1)),
                       default=0)
            return max(64.0, rate * self.cap_horizon, self.max_outstanding or 0)

        # admission control: the later stages of the flows started so far, and our recent
        # confirmations
        ledger = Ledger()
        recent: deque[tuple[float, int]] = deque()

        known: list[float] = []  # the last capacity measured on our miner's node

        def capacity(now: float) -> float | None:
            """Transactions per second the node can mine now, where that can be told.

            Why not the miner's time alone: it builds a block whenever transactions wait,
            so it is busy about as long as there is load, and mined over busy time is a
            floor that rises only as the load does; the best second of confirmations
            (what the node kept up with, sends and polls included) lifts it past bursts."""
            since = now - CAPACITY_WINDOW_S
            while recent and recent[0][0] < since:
                recent.popleft()
            mined_recently = sum(n for _, n in recent)
            if miner is not None:
                if mined_recently >= CAPACITY_MIN_MINED:
                    busy = miner.busy_since(since)
                    sec = int(now)
                    best = max((per_second.get(k, 0) for k in range(sec - self.cap_memory, sec)),
                               default=0)
                    known[:] = [max(best, mined_recently / busy if busy > 0 else 0.0)]
                return known[0] if known else None
            if self.block_time and self.gas_limit:
                last = [n for n in range(self.last_block - 4, self.last_block + 1)
                        if n in self.block_ntx]
                ntx, gas = (sum(self.block_ntx[n] for n in last),
                            sum(self.block_gas[n] for n in last))
                if ntx and gas:
                    return CAPACITY_SHARE * self.gas_limit / (gas / ntx) / self.block_time
            return None

        def admit(flow: Flow, now: float) -> bool:
            """Start a skippable flow? (The cap on unmined transactions has passed it.)"""
            if not self.admission:
                return True
            assert self.cap_horizon is not None
            return ledger.admit(flow, capacity_tps=capacity(now),
                                backlog=outstanding + len(queue), now=now,
                                max_delay_s=self.cap_horizon)

        def finish(flow: Flow) -> None:
            if not flow.done:
                flow.done = True
                done[0] += 1
            ledger.given_up(flow)

        def schedule(flow: Flow, now: float) -> None:
            flow.current += 1
            if flow.current >= len(flow.stages):
                finish(flow)
                return
            stage = flow.stages[flow.current]
            ledger.scheduled(flow)
            flow.unmined = len(stage.txs)
            base = stage.at if (flow.current == 0 and stage.at is not None) else now
            n = len(stage.txs)
            for k, ptx in enumerate(stage.txs):
                due = base + (stage.spread * k / n if n > 1 else 0.0)
                heapq.heappush(queue, (due, next(seq), ptx, stage.new_work))

        def opens_at(flow: Flow) -> float:
            """Wall-clock time at which the flow's next stage may go (-inf: now)."""
            nxt = flow.stages[flow.current + 1]
            if nxt.after_deadline and flow.deadline is not None:
                return flow.deadline + self.deadline_margin
            return -math.inf

        def advance(flow: Flow, now: float) -> None:
            stage = flow.stages[flow.current]
            if stage.phase_seconds is not None:
                ptx = stage.txs[-1]
                assert ptx.block is not None
                flow.deadline = self.block_ts[ptx.block] + stage.phase_seconds
            if flow.current + 1 >= len(flow.stages):
                finish(flow)
            elif opens_at(flow) <= time.time():
                schedule(flow, now)
            else:
                heapq.heappush(waiting, (opens_at(flow), next(seq), flow))

        miner = Miner(self.rpc.url, self.mine_interval) if self.mine_on_demand else None
        blocks_polled, last_poll = 0, -math.inf
        try:
            while True:
                now = time.monotonic()
                # past the timeout, a node that still mines our transactions is draining a
                # backlog (a saturated chain with 1 s blocks): it gets up to twice as long
                if now - started_at > self.timeout and (now - last_mined > STALL_S or
                                                        now - started_at > 2 * self.timeout):
                    self.errors.append(f"run timed out after {now - started_at:.0f} s")
                    break
                # flows whose first stage is due
                while start_i < len(starts) and starts[start_i][0] <= now + self.tick:
                    flow = flows[starts[start_i][1]]
                    start_i += 1
                    if flow.skippable and (outstanding >= cap() or not admit(flow, now)):
                        flow.skipped = True
                        finish(flow)
                        continue
                    schedule(flow, now)
                # send what is due (new work only while the node keeps up)
                due: list[PTx] = []
                held: list[tuple[float, int, PTx, bool]] = []
                if now - last_send < self.send_interval:
                    pass
                else:
                    last_send = now
                while queue and queue[0][0] <= now and last_send == now:
                    item = heapq.heappop(queue)
                    if item[3] and outstanding + len(due) >= cap():
                        held.append(item)
                        continue
                    due.append(item[2])
                for item in held:  # retried next tick, in order
                    heapq.heappush(queue, item)
                for i in range(0, len(due), self.batch):
                    part = due[i:i + self.batch]
                    t_send = time.monotonic()
                    try:
                        answers = self.rpc.batch([("eth_sendRawTransaction", [p.raw]) for p in part])
                    except (RpcError, OSError) as exc:
                        answers = [{"error": {"message": str(exc)}}] * len(part)
                    for ptx, a in zip(part, answers):
                        ptx.sent = t_send
                        if "error" in a:
                            msg = str(a["error"].get("message", a["error"]))
                            # a resent batch finds its transactions already there: they are sent
                            if "already" not in msg and "known" not in msg:
                                ptx.error = msg
                                self.errors.append(f"{ptx.fn}: {msg}")
                                continue
                        outstanding += 1
                # a node started with --no-mining: a block after every send (the miner
                # thread folds requests made while it mines into one more block); and, as
                # the count of what waits can be off when a send failed but reached the
                # node, the pool itself is asked when nothing was mined for 0.25 s
                if miner is not None:
                    wants = bool(due)
                    if (not wants and now - last_pool_check > 0.25
                            and now - last_progress > 0.25):
                        last_pool_check = now
                        try:
                            st = self.rpc.call("txpool_status")
                            wants = int(st.get("pending", "0x0"), 16) > 0
                        except (RpcError, OSError):
                            wants = True
                    if wants:
                        miner.want()
                # watch the chain and open gates; where our own miner makes the blocks, only
                # when it made one (or every 0.1 s): a poll per tick would cost the node and
                # this loop an HTTP round trip every few milliseconds for nothing
                head_before = self.last_block
                finished, mined = [], 0
                if (miner is None or miner.blocks != blocks_polled
                        or now - last_poll > 0.1):
                    last_poll = now
                    blocks_polled = miner.blocks if miner is not None else 0
                    finished, mined = self._poll(by_hash)
                outstanding -= mined
                if mined:
                    last_mined = time.monotonic()
                    recent.append((last_mined, mined))
                    sec = int(time.monotonic())
                    per_second[sec] = per_second.get(sec, 0) + mined
                for flow in finished:
                    if not flow.done:
                        advance(flow, time.monotonic())
                now = time.monotonic()
                if self.last_block != head_before:
                    last_progress = now
                elif (self.kick_after is not None and outstanding > 0
                      and now - last_progress > self.kick_after and now - last_kick > self.kick_after):
                    last_kick = now
                    try:
                        self.rpc.call("evm_mine")
                        self.kicks += 1
                    except (RpcError, OSError) as exc:
                        self.errors.append(f"evm_mine: {exc}")
                        self.kick_after = None
                wall = time.time()
                while waiting and waiting[0][0] <= wall:
                    schedule(heapq.heappop(waiting)[2], time.monotonic())
                # a stage with a failed send never completes: give its flow up
                for ptx in due:
                    if ptx.error is not None:
                        flow = by_hash[ptx.hash][1]
                        if flow is not None and not flow.done:
                            finish(flow)
                if done[0] == len(flows) and start_i == len(starts):
                    break
                nxt = queue[0][0] if queue else now + self.tick
                pause = min(max(0.0, nxt - time.monotonic()), self.tick)
                if pause > 0:
                    time.sleep(pause)
        finally:
            if miner is not None:
                miner.close()
                self.errors += miner.errors
        self._receipts([p for p, _ in by_hash.values() if p.sent is not None
                        and p.error is None])
        return self._measure(list(by_hash.values()), flows, window)

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


def wall_to_mono(wall: float) -> float:
    """Convert a wall-clock time (time.time) to the monotonic clock the engine runs on."""
    return time.monotonic() + (wall - time.time())


def fixed_schedule(txs: list[PTx], rate: float, start: float) -> list[Flow]:
    """Independent transactions (plain transfers) at ``rate`` per second from ``start``:
    one single-transaction flow each, so every one is its own new work."""
    return [Flow(stages=[Stage(txs=[p], at=start + k / rate, new_work=True)])
            for k, p in enumerate(txs)]
