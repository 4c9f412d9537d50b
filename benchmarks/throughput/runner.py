"""Running the load on a node: rounds and plain transfers at one rate, sweeps of rates, and
the scale of one round.

A run follows its plan (``benchmarks.throughput.plan``): every round is signed first (its
calldata does not depend on the deadlines), the accounts funded, one contract per round
deployed (``benchmarks.throughput.deploy``), then the load engine (``benchmarks._load``)
sends the stages and measures; each run becomes one ``Row``.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from benchmarks._load import CAP_MEMORY_S, Engine
from benchmarks._load_flows import LoadResult, Measures, PTx, Window, fixed_schedule, \
    wall_to_mono
from benchmarks._load_rounds import MAX_FEE, TIP, RoundPlanner, RoundShape, create_address, \
    shape_for_rate
from benchmarks._load_sign import Signer, TxFields
from benchmarks.throughput.chain import ON_DEMAND_KIND, block_gas_limit, empty_block_ms
from benchmarks.throughput.deploy import deploy_rounds, estimate_deploy_gas
from benchmarks.throughput.plan import Settings, ceil_int, margin_s, plan_rounds, stage_times
from benchmarks.throughput.report import Row
from contracts import nodes

FUND = 10**24  # wei per key: deposits plus gas at MAX_FEE
SEND_INTERVAL = 0.05  # seconds between send batches: on automine a batch tends to become a block

# EIP-3529: the refund a transaction gets back is at most a fifth of the gas it used
REFUND_CAP = 5


def gas_limit_for(gas_used: int) -> int:
    """The gas limit to sign a call with, from the largest gasUsed of its function seen in
    the calibration round.

    Why the largest, not the mean: calls of one function differ in cost by where they land
    in the round's storage (the first proposal of a round opens the round's proposal
    counters and its pair of welfare and budget slots: 218,343 gas; the second shares that
    pair: 141,829), and a limit from the mean (1.2 x 170,790 + 5,000) ran every round's
    first proposal out of gas. Why a quarter more: a receipt's gasUsed is net of the
    storage refund, which comes back only after the call ran, and that refund is at most a
    fifth of the gas before it (EIP-3529), so the call needed at most ``gas_used * 5 / 4``.
    The 5,000 cover calldata of other lengths and EIP-2200's 2,300-gas floor for a store."""
    before_refund = -(-gas_used * REFUND_CAP // (REFUND_CAP - 1))
    return before_refund + 5_000


NodeFactory = Callable[[], AbstractContextManager[nodes.Node]]
Progress = Callable[[Row], None]


def _engine(node: nodes.Node, *, timeout: float, cap_horizon: float | None,
            mine_interval: float, min_cap: int | None = None,
            admission: bool = False, behind_s: float | None = None) -> Engine:
    """``min_cap``: the least cap on unmined new work (else 64, and the cap grows with the
    confirmations only by the horizon per block time). ``admission``: count the later
    stages of the rounds started (see ``benchmarks._load_admission.admits``). ``behind_s``:
    no new round while a transaction has waited this long unmined."""
    automine = node.block_time is None and node.kind == "anvil"
    if node.kind == ON_DEMAND_KIND:
        return Engine(node.url, timeout=timeout, send_interval=SEND_INTERVAL,
                      cap_horizon=cap_horizon, mine_on_demand=True,
                      mine_interval=mine_interval, max_outstanding=min_cap,
                      admission=admission, behind_s=behind_s)
    # with interval mining every second has its block: the last one is the capacity, and the
    # best of several (the fullest block) would let a queue of more than a block build up
    return Engine(node.url, timeout=timeout, send_interval=SEND_INTERVAL, cap_horizon=cap_horizon,
                  kick_after=0.25 if automine else None,
                  cap_memory=CAP_MEMORY_S if automine else 1, max_outstanding=min_cap,
                  admission=admission, block_time=node.block_time, behind_s=behind_s)


class RoundRunner:
    """Runs rounds on one node; remembers the gas limits calibrated on it."""

    def __init__(self, node: nodes.Node, settings: Settings, seed: int = 7) -> None:
        from contracts import compiled

        self.node = node
        self.settings = settings
        self.art = compiled()
        self.gas: dict[str, int] = {}
        self.deploy_gas = 0
        self.gas_limit = block_gas_limit(node.url)
        self.runs = 0
        self.seed = seed

    def use(self, node: nodes.Node) -> None:
        """Run on ``node`` from now on (a fresh one per run); the calibrated gas limits stay."""
        self.node = node
        self.gas_limit = block_gas_limit(node.url)

    def _planner(self) -> RoundPlanner:
        self.runs += 1
        return RoundPlanner(chain_id=self.node.chain_id, abi=self.art.abi,
                            bytecode=self.art.bytecode, seed=f"hcfl-tp/{self.seed}/{self.runs}/"
                            f"{time.time_ns()}", gas=self.gas)

    def calibrate(self, proposals: int = 4) -> dict[str, float]:
        """One round (1 owner, 1 station, ``proposals``) with generous gas limits; later
        runs sign each function with ``gas_limit_for`` its largest gasUsed (gas grows with
        the proposals, never with the participants, so this covers every round of up to
        ``proposals``). Returns the mean gasUsed of each function."""
        shape = RoundShape(owners=1, stations=1, proposals=proposals)
        row = self.run(rate=max(10.0, 2.0 * shape.txs), shape=shape, rounds=1, measure=False)
        if row.failed:
            raise RuntimeError(f"calibration round failed: {row.errors}")
        self.gas = {fn: gas_limit_for(g) for fn, g in row.gas_max_by_fn.items()}
        return row.gas_by_fn

    def _deploy_gas(self) -> int:
        if not self.deploy_gas:
            self.deploy_gas = estimate_deploy_gas(self.node.url, self.art.abi, self.art.bytecode)
        return self.deploy_gas

    def run(self, rate: float, shape: RoundShape | None = None, rounds: int | None = None,
            measure: bool = True) -> Row:
        """Rounds at ``rate`` transactions per second (see the package docstring)."""
        if not rate > 0:
            raise ValueError(f"rate: expected > 0, got {rate}")
        deploy_gas = self._deploy_gas()
        bt = self.node.block_time
        plan = plan_rounds(rate, shape or shape_for_rate(rate), bt, self.settings,
                           measure=measure, rounds=rounds)
        rng = random.Random(self.runs)

        planner = self._planner()
        # sign every round first (their calldata does not depend on the deadlines)
        deployer = planner.new_signer()
        addresses = [create_address(deployer.address, k) for k in range(plan.rounds)]
        flows = [planner.round(a, plan.shape, phase_seconds=plan.phase_s, spread=plan.spread_s,
                               rng=rng) for a in addresses]
        for f in flows:
            f.skippable = True
        nodes.fund_addresses(self.node, planner.addresses, FUND)

        # deployments: round c's registration window opens `lead + c * spacing` from now
        per_block = max(1, self.gas_limit // max(1, deploy_gas))
        deadlines = plan.register_deadlines(time.time() + plan.deploy_lead_s(per_block, bt))
        actual = deploy_rounds(self.node, planner, deployer, deadlines, plan.phase_s,
                               deploy_gas, self.gas_limit)
        for flow, deadline in zip(flows, actual):
            flow.deadline = deadline
            flow.stages[0].at = wall_to_mono(deadline - plan.register_window_s)
            # the Register phase is over at `deadline`: the first advance waits for it
            # and, for the admission control, when each later stage should go
            registered = wall_to_mono(deadline)
            for stage, t in zip(flow.stages, stage_times(flow.stages, plan)):
                stage.planned = registered + t
        # setup overran: rounds whose registration window has begun already are skipped
        soon = time.monotonic() + 0.1
        for f in flows:
            if (f.stages[0].at or 0.0) < soon:
                f.skipped = f.done = True
        live = [f for f in flows if not f.skipped]
        if not live:
            raise RuntimeError("setup took longer than planned: no round left to run")
        t0 = min(f.stages[0].at or 0.0 for f in live)
        win = Window(t0 + plan.warmup_s, t0 + plan.warmup_s + plan.window_s)
        engine = _engine(self.node, timeout=plan.engine_timeout_s,
                         mine_interval=self.settings.mine_interval,
                         cap_horizon=plan.queue_horizon_s, admission=True,
                         behind_s=plan.margin_s + plan.slack_s)
        try:
            res = engine.run(live, win)
        finally:
            engine.close()
        skipped = sum(1 for f in flows if f.skipped)
        return _row(self.node, "rounds", rate, res, self.gas_limit, shape=plan.shape,
                    rounds=len(flows), skipped=skipped - res.skipped,
                    empty_block_ms=empty_block_ms(self.node) if measure else None)


def _row(node: nodes.Node, workload: str, rate: float, res: LoadResult, gas_limit: int, *,
         shape: RoundShape | None = None, rounds: int = 0, skipped: int = 0,
         empty_block_ms: float | None = None) -> Row:
    measures = {f.name: getattr(res, f.name) for f in dataclasses.fields(Measures)}
    return Row(
        node=node.kind, block_time_s=node.block_time or 0.0, workload=workload,
        target_tps=rate, **measures,
        participants=shape.participants if shape else 0,
        proposals=shape.proposals if shape else 0, rounds=rounds,
        rounds_done=res.flows_done if shape else 0, rounds_skipped=skipped + res.skipped,
        sent=res.sent, confirmed=res.confirmed, kicks=res.kicks, gas_by_fn=res.gas_by_fn,
        gas_max_by_fn=res.gas_max_by_fn,
        gas_per_block_mean=res.gas_per_block_mean, gas_limit=gas_limit, errors=res.errors,
        empty_block_ms=empty_block_ms)



def run_transfers(node: nodes.Node, rate: float, settings: Settings, run_id: int = 0) -> Row:
    """Plain ether transfers at ``rate`` from many senders (the node without the contract)."""
    if not rate > 0:
        raise ValueError(f"rate: expected > 0, got {rate}")
    window = settings.window_s if not settings.quick else min(settings.window_s, 3.0)
    warmup = 0.5
    n = ceil_int(rate * (warmup + window))
    senders = max(1, min(2000, n // 4))
    seed = f"hcfl-transfer/{run_id}/{time.time_ns()}"
    signers = [Signer(nodes.keccak(f"{seed}/{k}".encode())) for k in range(senders)]
    nodes.fund_addresses(node, [s.address for s in signers], FUND)
    sink = bytes.fromhex("00" * 19 + "aa")
    txs = []
    for i in range(n):
        st = signers[i % senders].sign(TxFields(node.chain_id, i // senders, TIP, MAX_FEE, 21_000,
                                                sink, 1, b""))
        txs.append(PTx(raw=st.raw, hash=st.hash, fn="transfer"))
    start = time.monotonic() + 0.2
    gas_limit = block_gas_limit(node.url)
    # at least a block of transfers may wait: from the cap's floor of 64 alone, 1 s blocks
    # took 5 of a 6 s window to ramp up (x1.8 a block) and measured a third of the rate
    engine = _engine(node, timeout=warmup + window + 60, mine_interval=settings.mine_interval,
                     cap_horizon=margin_s(node.block_time) + 0.5,
                     min_cap=gas_limit // 21_000 if node.block_time else None)
    try:
        res = engine.run(fixed_schedule(txs, rate, start),
                         Window(start + warmup, start + warmup + window))
    finally:
        engine.close()
    return _row(node, "transfers", rate, res, gas_limit, empty_block_ms=empty_block_ms(node))


def saturated(row: Row) -> bool:
    """The node no longer keeps up: it confirms under 80% of what was offered, or the load
    could not even be offered at half the target (new rounds skipped while it was behind),
    or transactions failed."""
    return (row.confirmed_tps < 0.8 * row.offered_tps or row.offered_tps < 0.5 * row.target_tps
            or row.failed > 0)


@dataclass(frozen=True)
class ScaleResult:
    """One round of many participants on the node: did it complete, and at what gas."""

    participants: int
    proposals: int
    completed: bool
    failed: int
    seconds: float
    gas_by_fn: dict[str, float]
    gas_limit: int
    per_block: dict[str, int]  # how many calls of each kind fit in one block


def run_scale(runner: RoundRunner, participants: int, proposals: int) -> ScaleResult:
    """One round of ``participants`` (a quarter owners) and ``proposals`` on the node."""
    owners = max(1, participants // 4)
    shape = RoundShape(owners=owners, stations=participants - owners, proposals=proposals)
    t = time.perf_counter()
    calibrated, runner.gas = runner.gas, {}  # the generous limits: gas grows with M
    try:
        row = runner.run(rate=max(200.0, participants * 2.0), shape=shape, rounds=1,
                         measure=False)
    finally:
        runner.gas = calibrated
    secs = time.perf_counter() - t
    per_block = {fn: int(runner.gas_limit // g) for fn, g in row.gas_by_fn.items() if g > 0}
    return ScaleResult(participants, proposals, row.failed == 0 and row.rounds_done == 1,
                       row.failed, secs, row.gas_by_fn, runner.gas_limit, per_block)


def sweep(fresh: NodeFactory, rates: Sequence[float], settings: Settings,
          runner: RoundRunner, progress: Progress | None = None) -> list[Row]:
    """Round transactions at each rate, each on a ``fresh()`` node, stopping two rates after
    saturation."""
    rows: list[Row] = []
    over = 0
    for rate in rates:
        with fresh() as node:
            runner.use(node)
            row = runner.run(rate)
        rows.append(row)
        if progress:
            progress(row)
        if saturated(row):
            over += 1
            if over >= 2:
                break
    return rows


def transfer_sweep(fresh: NodeFactory, rates: Sequence[float], settings: Settings,
                   progress: Progress | None = None) -> list[Row]:
    """Plain transfers at each rate, each on a ``fresh()`` node, up to saturation."""
    rows: list[Row] = []
    for k, rate in enumerate(rates):
        with fresh() as node:
            row = run_transfers(node, rate, settings, run_id=k)
        rows.append(row)
        if progress:
            progress(row)
        if saturated(row):
            break
    return rows
