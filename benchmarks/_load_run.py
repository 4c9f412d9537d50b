"""One run of the load engine: the state of ``Engine.run``'s loop and its steps.

``Engine`` (``benchmarks._load``) holds the settings and what it has seen of the chain;
a ``Run`` holds what one run needs on top (the send queue, the flows waiting for a
deadline, the unmined count, the recent confirmations, the admission ledger, the miner
thread), and each step of the loop is one of its methods: start the flows whose time has
come, send what is due, ask for a block, watch the chain, kick a stalled node, open the
gates whose deadline has passed.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from typing import TYPE_CHECKING

from benchmarks._load_admission import Ledger
from benchmarks._load_flows import Flow, PTx
from benchmarks._load_miner import Miner
from contracts.nodes import RpcError

if TYPE_CHECKING:
    from benchmarks._load import Engine

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


class Run:
    """The state of one run of ``flows`` on ``engine`` (see the module docstring)."""

    def __init__(self, engine: Engine, flows: list[Flow]) -> None:
        self.engine = engine
        self.flows = flows
        self.by_hash: dict[str, tuple[PTx, Flow | None]] = {}
        for flow in flows:
            for stage in flow.stages:
                for ptx in stage.txs:
                    self.by_hash[ptx.hash] = (ptx, flow)
        self.queue: list[tuple[float, int, PTx, bool]] = []  # (due, seq, tx, is new work)
        self.seq = itertools.count()
        self.outstanding = 0  # sent, not seen mined
        self.in_flight: deque[PTx] = deque()  # sent, in send order (the mined ones drop out)
        # flows whose next stage waits for a deadline, by the wall-clock time it opens: a
        # heap, as a scan of every waiting flow on every tick cost this loop more CPU than all
        # its sending and polling at ~2,000 round tx/s (cProfile: 12 million gate checks a run)
        self.waiting: list[tuple[float, int, Flow]] = []
        # flows start at their first stage's planned time
        self.starts = sorted(((f.stages[0].at or 0.0), k) for k, f in enumerate(flows))
        self.start_i = 0
        self.started_at = time.monotonic()
        self.done = 0
        self.last_send = -math.inf
        self.last_progress = time.monotonic()  # a new block seen
        self.last_mined = time.monotonic()  # one of our transactions seen mined
        self.last_kick = -math.inf
        self.last_pool_check = -math.inf
        # confirmations per whole second of the run: the node's recent capacity is the best
        # of the last few seconds, not the last one alone; rounds send in bursts (a phase
        # opens for many rounds at once), and a cap taken from a quiet second skipped the
        # rounds of the next burst, whose missing stages then came back at every phase length
        self.per_second: dict[int, int] = {}
        # admission control: the later stages of the flows started so far, and our recent
        # confirmations
        self.ledger = Ledger()
        self.recent: deque[tuple[float, int]] = deque()
        self.known_capacity: float | None = None  # the last measured on our miner's node
        self.miner = (Miner(engine.rpc.url, engine.mine_interval) if engine.mine_on_demand
                      else None)
        self.blocks_polled = 0
        self.last_poll = -math.inf

    # -- the loop ----------------------------------------------------------------------------
    def loop(self) -> None:
        """Run until every flow is done (or the run times out)."""
        e = self.engine
        while True:
            now = time.monotonic()
            if self.timed_out(now):
                e.errors.append(f"run timed out after {now - self.started_at:.0f} s")
                break
            self.start_due_flows(now)
            due = self.send_due(now)
            if self.miner is not None:
                self.request_block(now, due)
            head_before = e.last_block
            self.watch(now)
            now = time.monotonic()
            if e.last_block != head_before:
                self.last_progress = now
            else:
                self.kick_if_stalled(now)
            self.open_gates()
            self.give_up_failed(due)
            if self.done == len(self.flows) and self.start_i == len(self.starts):
                break
            nxt = self.queue[0][0] if self.queue else now + e.tick
            pause = min(max(0.0, nxt - time.monotonic()), e.tick)
            if pause > 0:
                time.sleep(pause)

    def close(self) -> None:
        """Stop the miner thread; its errors join the engine's."""
        if self.miner is not None:
            self.miner.close()
            self.engine.errors += self.miner.errors

    def sent(self) -> list[PTx]:
        """The transactions that reached the node (for their receipts)."""
        return [p for p, _ in self.by_hash.values() if p.sent is not None and p.error is None]

    # -- the steps -----------------------------------------------------------------------------
    def timed_out(self, now: float) -> bool:
        """Past the timeout, a node that still mines our transactions is draining a backlog
        (a saturated chain with 1 s blocks): it gets up to twice as long."""
        e = self.engine
        return now - self.started_at > e.timeout and (
            now - self.last_mined > STALL_S or now - self.started_at > 2 * e.timeout)

    def start_due_flows(self, now: float) -> None:
        """Start the flows whose first stage is due, or skip those the node cannot take."""
        while (self.start_i < len(self.starts)
               and self.starts[self.start_i][0] <= now + self.engine.tick):
            flow = self.flows[self.starts[self.start_i][1]]
            self.start_i += 1
            if flow.skippable and (self.outstanding >= self.cap() or self.behind(now)
                                   or not self.admit(flow, now)):
                flow.skipped = True
                self.finish(flow)
                continue
            self.schedule(flow, now)

    def send_due(self, now: float) -> list[PTx]:
        """Send what is due, in batches (new work only while the node keeps up); what was
        taken off the queue, sent or refused."""
        e = self.engine
        due: list[PTx] = []
        held: list[tuple[float, int, PTx, bool]] = []
        if now - self.last_send >= e.send_interval:
            self.last_send = now
            while self.queue and self.queue[0][0] <= now:
                item = heapq.heappop(self.queue)
                if item[3] and self.outstanding + len(due) >= self.cap():
                    held.append(item)
                    continue
                due.append(item[2])
        for item in held:  # retried next tick, in order
            heapq.heappush(self.queue, item)
        for i in range(0, len(due), e.batch):
            part = due[i:i + e.batch]
            t_send = time.monotonic()
            try:
                answers = e.rpc.batch([("eth_sendRawTransaction", [p.raw]) for p in part])
            except (RpcError, OSError) as exc:
                answers = [{"error": {"message": str(exc)}}] * len(part)
            for ptx, a in zip(part, answers):
                ptx.sent = t_send
                if "error" in a:
                    msg = str(a["error"].get("message", a["error"]))
                    # a resent batch finds its transactions already there: they are sent
                    if "already" not in msg and "known" not in msg:
                        ptx.error = msg
                        e.errors.append(f"{ptx.fn}: {msg}")
                        continue
                self.outstanding += 1
                self.in_flight.append(ptx)
        return due

    def request_block(self, now: float, due: list[PTx]) -> None:
        """A node started with --no-mining: a block after every send (the miner thread folds
        requests made while it mines into one more block); and, as the count of what waits
        can be off when a send failed but reached the node, the pool itself is asked when
        nothing was mined for 0.25 s."""
        assert self.miner is not None
        wants = bool(due)
        if (not wants and now - self.last_pool_check > 0.25
                and now - self.last_progress > 0.25):
            self.last_pool_check = now
            try:
                st = self.engine.rpc.call("txpool_status")
                wants = int(st.get("pending", "0x0"), 16) > 0
            except (RpcError, OSError):
                wants = True
        if wants:
            self.miner.want()

    def watch(self, now: float) -> None:
        """Watch the chain and move the flows whose stage was mined on; where our own miner
        makes the blocks, only when it made one (or every 0.1 s): a poll per tick would cost
        the node and this loop an HTTP round trip every few milliseconds for nothing."""
        finished: list[Flow] = []
        mined = 0
        if (self.miner is None or self.miner.blocks != self.blocks_polled
                or now - self.last_poll > 0.1):
            self.last_poll = now
            self.blocks_polled = self.miner.blocks if self.miner is not None else 0
            finished, mined = self.engine.poll(self.by_hash)
        self.outstanding -= mined
        if mined:
            self.last_mined = time.monotonic()
            self.recent.append((self.last_mined, mined))
            sec = int(time.monotonic())
            self.per_second[sec] = self.per_second.get(sec, 0) + mined
        for flow in finished:
            if not flow.done:
                self.advance(flow, time.monotonic())

    def kick_if_stalled(self, now: float) -> None:
        """``evm_mine`` where transactions wait ``kick_after`` with no new block (anvil's
        automine can leave ready transactions unmined under load)."""
        e = self.engine
        if (e.kick_after is not None and self.outstanding > 0
                and now - self.last_progress > e.kick_after
                and now - self.last_kick > e.kick_after):
            self.last_kick = now
            try:
                e.rpc.call("evm_mine")
                e.kicks += 1
            except (RpcError, OSError) as exc:
                e.errors.append(f"evm_mine: {exc}")
                e.kick_after = None

    def open_gates(self) -> None:
        """Schedule the flows whose phase deadline has passed."""
        wall = time.time()
        while self.waiting and self.waiting[0][0] <= wall:
            self.schedule(heapq.heappop(self.waiting)[2], time.monotonic())

    def give_up_failed(self, due: list[PTx]) -> None:
        """A stage with a failed send never completes: give its flow up."""
        for ptx in due:
            if ptx.error is not None:
                flow = self.by_hash[ptx.hash][1]
                if flow is not None and not flow.done:
                    self.finish(flow)

    # -- flows -------------------------------------------------------------------------------
    def finish(self, flow: Flow) -> None:
        if not flow.done:
            flow.done = True
            self.done += 1
        self.ledger.given_up(flow)

    def schedule(self, flow: Flow, now: float) -> None:
        """Put the flow's next stage in the send queue, its transactions spread out."""
        flow.current += 1
        if flow.current >= len(flow.stages):
            self.finish(flow)
            return
        stage = flow.stages[flow.current]
        self.ledger.scheduled(flow)
        flow.unmined = len(stage.txs)
        base = stage.at if (flow.current == 0 and stage.at is not None) else now
        n = len(stage.txs)
        for k, ptx in enumerate(stage.txs):
            due = base + (stage.spread * k / n if n > 1 else 0.0)
            heapq.heappush(self.queue, (due, next(self.seq), ptx, stage.new_work))

    def opens_at(self, flow: Flow) -> float:
        """Wall-clock time at which the flow's next stage may go (-inf: now)."""
        nxt = flow.stages[flow.current + 1]
        if nxt.after_deadline and flow.deadline is not None:
            return flow.deadline + self.engine.deadline_margin
        return -math.inf

    def advance(self, flow: Flow, now: float) -> None:
        """The flow's current stage is mined: its next one now, or once its deadline passed."""
        stage = flow.stages[flow.current]
        if stage.phase_seconds is not None:
            ptx = stage.txs[-1]
            assert ptx.block is not None
            flow.deadline = self.engine.block_ts[ptx.block] + stage.phase_seconds
        if flow.current + 1 >= len(flow.stages):
            self.finish(flow)
        elif self.opens_at(flow) <= time.time():
            self.schedule(flow, now)
        else:
            heapq.heappush(self.waiting, (self.opens_at(flow), next(self.seq), flow))

    # -- the node's pace ---------------------------------------------------------------------
    def cap(self) -> float:
        """How many transactions may be sent and unmined before new work is held back."""
        e = self.engine
        if e.cap_horizon is None:
            return math.inf if e.max_outstanding is None else e.max_outstanding
        sec = int(time.monotonic())
        rate = max((self.per_second.get(k, 0) for k in range(sec - e.cap_memory, sec + 1)),
                   default=0)
        return max(64.0, rate * e.cap_horizon, e.max_outstanding or 0)

    def capacity(self, now: float) -> float | None:
        """Transactions per second the node can mine now, where that can be told.

        Why not the miner's time alone: it builds a block whenever transactions wait, so it
        is busy about as long as there is load, and mined over busy time is a floor that
        rises only as the load does; the best second of confirmations (what the node kept up
        with, sends and polls included) lifts it past bursts."""
        e = self.engine
        since = now - CAPACITY_WINDOW_S
        while self.recent and self.recent[0][0] < since:
            self.recent.popleft()
        mined_recently = sum(n for _, n in self.recent)
        if self.miner is not None:
            if mined_recently >= CAPACITY_MIN_MINED:
                busy = self.miner.busy_since(since)
                sec = int(now)
                best = max((self.per_second.get(k, 0)
                            for k in range(sec - e.cap_memory, sec)), default=0)
                self.known_capacity = max(best, mined_recently / busy if busy > 0 else 0.0)
            return self.known_capacity
        if e.block_time and e.gas_limit:
            last = [n for n in range(e.last_block - 4, e.last_block + 1) if n in e.block_ntx]
            ntx, gas = sum(e.block_ntx[n] for n in last), sum(e.block_gas[n] for n in last)
            if ntx and gas:
                return CAPACITY_SHARE * e.gas_limit / (gas / ntx) / e.block_time
        return None

    def oldest_wait(self, now: float) -> float:
        """Seconds the oldest of our transactions still unmined has waited (0: none waits)."""
        while self.in_flight and self.in_flight[0].block is not None:
            self.in_flight.popleft()
        oldest = self.in_flight[0].sent if self.in_flight else None
        return now - oldest if oldest is not None else 0.0

    def behind(self, now: float) -> bool:
        """Is the node behind: has a transaction waited longer than ``behind_s`` unmined?

        Why, beside the admission control: that control trusts the capacity it measured, and
        on a machine whose cores other jobs take the node's pace falls below it, the queue
        grows past what the phases allow, and the rounds already started miss their
        deadlines (seen at load average 8 to 10 on 2 cores: 129 of a run's transactions
        reverted at 6,000 offered). The wait of the oldest transaction shows it whatever the
        cause, and no new round then adds to the queue."""
        limit = self.engine.behind_s
        return limit is not None and self.oldest_wait(now) > limit

    def admit(self, flow: Flow, now: float) -> bool:
        """Start a skippable flow? (The cap on unmined transactions has passed it.)"""
        e = self.engine
        if not e.admission:
            return True
        assert e.cap_horizon is not None
        return self.ledger.admit(flow, capacity_tps=self.capacity(now),
                                 backlog=self.outstanding + len(self.queue), now=now,
                                 max_delay_s=e.cap_horizon)
