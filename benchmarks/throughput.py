"""Throughput of HCFL's contract on a real Ethereum node, against the paper's figure 6.

Claim measured: how many transactions of whole auction rounds (register, propose, commit,
reveal, close, settle, withdraw) a node confirms per second and per block as the generation
rate grows, next to plain transfers on the same node in the same run. The paper's geth
private chain saturates at about 2 tx/s of generation and 15 transactions per block.

Method (``benchmarks._load``): for each rate a fresh node (anvil rebuilds its state root from
every account and slot at each block, so a node that earlier runs filled would be slower for
that alone; with ``--rpc`` the runs share the one node), fresh keys and one fresh deployment
per round;
every transaction is signed before the timed window (libsecp256k1, ~10k/s); rounds start
one after another so that their transactions come at the target rate, each stage sent once
the previous one is mined and the contract's phase deadline has passed; new rounds are
skipped while the node is behind, so no round misses a deadline. Measures come from a
steady-state window after a warm-up: offered and confirmed tx/s, transactions per block
(mean, max, empty blocks included), latency from send to the block being seen (p50, p99),
failed transactions (every transaction of every round that ran must succeed), gas per
function from the receipts. One run per rate on one machine (2 shared cores here): read
the figures as orders of magnitude, not to the percent.

Nodes: anvil from ``scripts/setup.sh`` with automine and with 1 s blocks (``--block-time``),
``geth --dev`` where a geth binary is on PATH (``--node geth``), or any ``--rpc URL``.
Also: the same rounds on titanoboa's embedded EVM (in-process baseline), and the scale of a
single round (participants, proposals) against the block gas limit.

    python -m benchmarks.throughput                  # full sweep, anvil automine and 1 s blocks
    python -m benchmarks.throughput --quick --out out  # CI: a few rates, short windows
    python -m benchmarks.throughput --rpc http://127.0.0.1:8545 --block-time 1

Writes ``DIR/throughput.csv`` (SPEC section 6: one row per rate of round transactions),
``DIR/throughput_transfers.csv`` (same columns, plain transfers), ``DIR/throughput.json``
(everything, gas included) and ``DIR/throughput.png`` (tx per block against generation rate,
the paper's figure 6 marked).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import functools
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contracts import nodes
from benchmarks._load import (
    CAP_MEMORY_S,
    Engine,
    LoadResult,
    PTx,
    Window,
    fixed_schedule,
    wall_to_mono,
)
from benchmarks._load_rounds import (
    MAX_FEE,
    TIP,
    RoundPlanner,
    RoundShape,
    ceil_int,
    round_seconds,
    shape_for_rate,
)
from benchmarks._load_sign import Signer, TxFields

CSV_COLUMNS = ["node", "block_time_s", "offered_tps", "confirmed_tps", "tx_per_block_mean",
               "tx_per_block_max", "latency_p50_s", "latency_p99_s", "failed"]
PAPER_SATURATION_TPS = 2.0  # paper, figure 6: generation rate where tx per block stops growing
PAPER_MAX_TX_PER_BLOCK = 15
FULL_RATES = [1, 2, 5, 20, 100, 500, 1000, 2000, 3000, 4000]
QUICK_RATES = [300]
TRANSFER_RATES = [500, 1000, 2000, 4000, 8000]
QUICK_TRANSFER_RATES = [2000]
FUND = 10**24  # wei per key: deposits plus gas at MAX_FEE
ON_DEMAND_KIND = "anvil-ondemand"  # anvil --no-mining, a block requested whenever txs wait
# On-demand mining: at most one block per 30 ms. Back-to-back blocks of a few dozen round
# transactions spend much of anvil's time on per-block work; measured with
# `--mine-interval 0 / 0.03 / 0.1`, see README.
MINE_INTERVAL = 0.03
SEND_INTERVAL = 0.05  # seconds between send batches: on automine a batch tends to become a block


@dataclass(frozen=True)
class Row:
    """One rate on one node (the CSV's columns plus what the table and JSON add)."""

    node: str
    block_time_s: float
    workload: str  # "rounds" or "transfers"
    target_tps: float
    offered_tps: float
    confirmed_tps: float
    tx_per_block_mean: float
    tx_per_block_max: int
    latency_p50_s: float
    latency_p99_s: float
    failed: int
    participants: int = 0
    proposals: int = 0
    rounds: int = 0
    rounds_done: int = 0
    rounds_skipped: int = 0
    sent: int = 0
    confirmed: int = 0
    kicks: int = 0
    gas_by_fn: dict[str, float] = field(default_factory=dict)
    gas_per_block_mean: float = 0.0
    gas_limit: int = 0
    errors: tuple[str, ...] = ()
    # on-demand nodes: ms to mine an empty block after the run (anvil rebuilds its state
    # root from every account and slot for each block: the per-block cost grows with state)
    empty_block_ms: float | None = None

    def csv_row(self) -> list[str]:
        return [self.node, f"{self.block_time_s:g}", f"{self.offered_tps:.2f}",
                f"{self.confirmed_tps:.2f}", f"{self.tx_per_block_mean:.2f}",
                str(self.tx_per_block_max), f"{self.latency_p50_s:.4f}",
                f"{self.latency_p99_s:.4f}", str(self.failed)]


@dataclass(frozen=True)
class Settings:
    """How long and how hard each run is."""

    window_s: float = 6.0  # steady-state measuring window
    min_window_txs: int = 30  # at low rates the window grows to hold this many transactions
    max_window_s: float = 30.0
    quick: bool = False
    slack_s: float = 1.5  # extra time per phase for the node (and this client) to lag
    mine_interval: float = MINE_INTERVAL  # on-demand mining: seconds between block starts


def _block_gas_limit(url: str) -> int:
    with nodes.JsonRpc(url) as rpc:
        return int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)


def _margin(block_time: float | None) -> float:
    """Seconds from sending a transaction to seeing it mined, with slack."""
    return (block_time or 0.0) + 0.3


def _engine(node: nodes.Node, *, timeout: float, cap_horizon: float | None,
            mine_interval: float, min_cap: int | None = None) -> Engine:
    """``min_cap``: the least cap on unmined new work (else 64, and the cap grows with the
    confirmations only by the horizon per block time)."""
    automine = node.block_time is None and node.kind == "anvil"
    if node.kind == ON_DEMAND_KIND:
        return Engine(node.url, timeout=timeout, send_interval=SEND_INTERVAL,
                      cap_horizon=cap_horizon, mine_on_demand=True,
                      mine_interval=mine_interval, max_outstanding=min_cap)
    # with interval mining every second has its block: the last one is the capacity, and the
    # best of several (the fullest block) would let a queue of more than a block build up
    return Engine(node.url, timeout=timeout, send_interval=SEND_INTERVAL, cap_horizon=cap_horizon,
                  kick_after=0.25 if automine else None,
                  cap_memory=CAP_MEMORY_S if automine else 1, max_outstanding=min_cap)


# ------------------------------------------------------------------------------------------
# Rounds


class RoundRunner:
    """Runs rounds on one node; remembers the gas limits calibrated on it."""

    def __init__(self, node: nodes.Node, settings: Settings, seed: int = 7) -> None:
        from contracts import compiled

        self.node = node
        self.settings = settings
        self.art = compiled()
        self.gas: dict[str, int] = {}
        self.deploy_gas = 0
        self.gas_limit = _block_gas_limit(node.url)
        self.runs = 0
        self.seed = seed

    def use(self, node: nodes.Node) -> None:
        """Run on ``node`` from now on (a fresh one per run); the calibrated gas limits stay."""
        self.node = node
        self.gas_limit = _block_gas_limit(node.url)

    def _planner(self) -> RoundPlanner:
        self.runs += 1
        return RoundPlanner(chain_id=self.node.chain_id, abi=self.art.abi,
                            bytecode=self.art.bytecode, seed=f"hcfl-tp/{self.seed}/{self.runs}/"
                            f"{time.time_ns()}", gas=self.gas)

    def calibrate(self, proposals: int = 4) -> dict[str, float]:
        """One round (1 owner, 1 station, ``proposals``) with generous gas limits; later
        runs use 1.2x what each call used (gas grows with the proposals, never with the
        participants, so this covers every round of up to ``proposals``)."""
        shape = RoundShape(owners=1, stations=1, proposals=proposals)
        row = self.run(rate=max(10.0, 2.0 * shape.txs), shape=shape, rounds=1, measure=False)
        if row.failed:
            raise RuntimeError(f"calibration round failed: {row.errors}")
        self.gas = {fn: int(g * 1.2) + 5_000 for fn, g in row.gas_by_fn.items()}
        return row.gas_by_fn

    def _deploy_gas(self) -> int:
        if not self.deploy_gas:
            from benchmarks._load_rounds import Abi

            data = self.art.bytecode + Abi(self.art.abi).constructor_args(
                [[3600, 2, 2, 2, 3600, 3600], 0, 1])
            with nodes.JsonRpc(self.node.url) as rpc:
                est = int(rpc.call("eth_estimateGas", [{"data": "0x" + data.hex()}]), 16)
            self.deploy_gas = int(est * 1.2)
        return self.deploy_gas

    def run(self, rate: float, shape: RoundShape | None = None, rounds: int | None = None,
            measure: bool = True) -> Row:
        """Rounds at ``rate`` transactions per second (see the module docstring)."""
        if not rate > 0:
            raise ValueError(f"rate: expected > 0, got {rate}")
        self._deploy_gas()
        shape = shape or shape_for_rate(rate)
        bt = self.node.block_time
        margin = _margin(bt)
        biggest_stage = 2 * shape.participants
        spread = max(0.5, biggest_stage / rate)
        # a saturated chain with block times keeps up to a block of backlog, which a stage
        # waits out on top of its own block: one more block time of slack (1 s blocks at
        # twice their capacity had a few registers and commits land past the deadline)
        slack = self.settings.slack_s + (bt or 0.0)
        phase = max(2, ceil_int(1.0 + spread + margin + slack))
        duration = round_seconds(phase, spread, margin)
        spacing = shape.txs / rate  # one round starts every `spacing` seconds
        window = self.settings.window_s
        window = min(self.settings.max_window_s, max(window, self.settings.min_window_txs / rate))
        warmup = min(duration, 20.0) if measure else 0.0
        if rounds is None:
            rounds = max(1, ceil_int((warmup + window) / spacing))
        rng = random.Random(self.runs)

        planner = self._planner()
        # sign every round first (their calldata does not depend on the deadlines)
        deployer = planner.new_signer()
        from benchmarks._load_rounds import create_address

        addresses = [create_address(deployer.address, k) for k in range(rounds)]
        flows = [planner.round(a, shape, phase_seconds=phase, spread=spread, rng=rng)
                 for a in addresses]
        for f in flows:
            f.skippable = True
        nodes.fund_addresses(self.node, planner.addresses, FUND)

        # deployments: round c's registration window opens `lead + c * spacing` from now
        per_block = max(1, self.gas_limit // max(1, self.deploy_gas))
        deploy_time = (math.ceil(rounds / per_block) * (bt or 0.0) + 0.02 * rounds
                       + (bt or 0.0) + 1.0)
        now_wall = time.time()
        lead = deploy_time + 1.0
        reg_window = spread + margin + slack
        deadlines = [ceil_int(now_wall + lead + c * spacing + reg_window) for c in range(rounds)]
        actual = self._deploy(planner, deployer, deadlines, phase)
        for flow, deadline in zip(flows, actual):
            flow.deadline = deadline
            flow.stages[0].at = wall_to_mono(deadline - reg_window)
            # the Register phase is over at `deadline`: the first advance waits for it
        # setup overran: rounds whose registration window has begun already are skipped
        soon = time.monotonic() + 0.1
        for f in flows:
            if (f.stages[0].at or 0.0) < soon:
                f.skipped = f.done = True
        live = [f for f in flows if not f.skipped]
        if not live:
            raise RuntimeError("setup took longer than planned: no round left to run")
        t0 = min(f.stages[0].at or 0.0 for f in live)
        win = Window(t0 + warmup, t0 + warmup + window)
        engine = _engine(self.node, timeout=max(60.0, warmup + window + 4 * duration + 30),
                         mine_interval=self.settings.mine_interval,
                         cap_horizon=margin + 0.5)
        try:
            res = engine.run(live, win)
        finally:
            engine.close()
        skipped = sum(1 for f in flows if f.skipped)
        return _row(self.node, "rounds", rate, res, self.gas_limit, shape=shape,
                    rounds=len(flows), skipped=skipped - res.skipped,
                    empty_block_ms=_empty_block_ms(self.node) if measure else None)

    def _deploy(self, planner: RoundPlanner, deployer: Signer, deadlines: list[int],
                phase: int) -> list[int]:
        """Deploy one contract per round, block by block, each signed just before its block
        with the Register length that ends it at ``deadlines[c]``; the Register deadline
        that each actually got (chain time).

        Why block by block: a round's later phases all start on its Register deadline plus
        whole phase lengths, so rounds whose deadlines bunch up or leave a second empty
        send in bursts and gaps that recur every phase. Signed all at once, the contracts
        mined over several blocks (seconds apart with 1 s blocks, or waiting for the
        client's kicks) got their deadlines shifted by their block's timestamp.
        """
        bt = self.node.block_time
        on_demand = self.node.kind == ON_DEMAND_KIND
        per_block = max(1, self.gas_limit // max(1, self.deploy_gas))
        out: list[int] = []
        with nodes.JsonRpc(self.node.url) as rpc:
            head = rpc.call("eth_getBlockByNumber", ["latest", False])
            fresh = False  # `head` was seen just now
            while len(out) < len(deadlines):
                if bt:
                    # interval mining: send right after a block, for the next one
                    if not fresh:
                        head = _next_block(rpc, int(head["number"], 16))
                    expected = int(head["timestamp"], 16) + math.ceil(bt)
                else:
                    if time.time() % 1.0 > 0.8:  # not across a second: wait for the next
                        time.sleep(1.0 - time.time() % 1.0 + 0.01)
                    expected = int(time.time())
                first = len(out)
                batch = _sign_deployments(planner, deployer, [
                    d - expected for d in deadlines[first:first + per_block]], phase,
                    self.deploy_gas, first_nonce=first)
                answers = rpc.batch([("eth_sendRawTransaction", [p.raw]) for p in batch])
                bad = [a["error"] for a in answers if "error" in a]
                if bad:
                    raise RuntimeError(f"deployment refused: {bad[0]}")
                if on_demand:
                    rpc.call("evm_mine")
                receipts = _wait_kicking(rpc, [p.hash for p in batch], automine=bt is None)
                if any(int(r["status"], 16) != 1 for r in receipts):
                    raise RuntimeError("a deployment reverted")
                blocks = {n: rpc.call("eth_getBlockByNumber", [n, False])
                          for n in dict.fromkeys(r["blockNumber"] for r in receipts)}
                head, fresh = blocks[receipts[-1]["blockNumber"]], True
                out += [d - expected + int(blocks[r["blockNumber"]]["timestamp"], 16)
                        for d, r in zip(deadlines[first:], receipts)]
        return out


def _next_block(rpc: nodes.JsonRpc, after: int, timeout: float = 60.0) -> dict:
    """The first block after number ``after`` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = rpc.call("eth_getBlockByNumber", ["latest", False])
        if int(head["number"], 16) > after:
            return head
        time.sleep(0.01)
    raise TimeoutError(f"no block after {after} in {timeout} s")


def _sign_deployments(planner: RoundPlanner, deployer: Signer, register_seconds: list[int],
                      phase: int, deploy_gas: int, first_nonce: int = 0) -> list[PTx]:
    from benchmarks._load_rounds import TRAIN_VOTE_SECONDS

    out = []
    for nonce, reg in enumerate(register_seconds, start=first_nonce):
        if reg < 1:
            raise RuntimeError(f"setup overran: a Register phase of {reg} s")
        args = [[reg, phase, phase, phase, TRAIN_VOTE_SECONDS, TRAIN_VOTE_SECONDS], 0, 1]
        data = planner.bytecode + planner.abi.constructor_args(args)
        st = deployer.sign(TxFields(planner.chain_id, nonce, TIP, MAX_FEE, deploy_gas, b"", 0,
                                    data))
        out.append(PTx(raw=st.raw, hash=st.hash, fn="deploy"))
    return out


def _wait_kicking(rpc: nodes.JsonRpc, hashes: list[str], automine: bool,
                  timeout: float = 120.0) -> list[dict]:
    """Receipts of ``hashes``; on automine, ``evm_mine`` whatever the node leaves waiting."""
    deadline = time.monotonic() + timeout
    got: dict[str, dict] = {}
    last = time.monotonic()
    while len(got) < len(hashes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(hashes) - len(got)} deployments not mined in {timeout} s")
        todo = [h for h in hashes if h not in got]
        for i in range(0, len(todo), 500):
            part = todo[i:i + 500]
            for h, a in zip(part, rpc.batch([("eth_getTransactionReceipt", [h]) for h in part])):
                if a.get("result"):
                    got[h] = a["result"]
                    last = time.monotonic()
        if len(got) < len(hashes):
            if automine and time.monotonic() - last > 0.25:
                rpc.call("evm_mine")
                last = time.monotonic()
            time.sleep(0.02)
    return [got[h] for h in hashes]


def _empty_block_ms(node: nodes.Node, blocks: int = 3) -> float | None:
    """Mean ms that an on-demand node takes to mine an empty block (None elsewhere: a node
    with its own block times is not asked for extra blocks)."""
    if node.kind != ON_DEMAND_KIND:
        return None
    with nodes.JsonRpc(node.url) as rpc:
        t = time.perf_counter()
        for _ in range(blocks):
            rpc.call("evm_mine")
        return (time.perf_counter() - t) / blocks * 1000


def _row(node: nodes.Node, workload: str, rate: float, res: LoadResult, gas_limit: int, *,
         shape: RoundShape | None = None, rounds: int = 0, skipped: int = 0,
         empty_block_ms: float | None = None) -> Row:
    return Row(
        node=node.kind, block_time_s=node.block_time or 0.0, workload=workload,
        target_tps=rate, offered_tps=res.offered_tps, confirmed_tps=res.confirmed_tps,
        tx_per_block_mean=res.tx_per_block_mean, tx_per_block_max=res.tx_per_block_max,
        latency_p50_s=res.latency_p50_s, latency_p99_s=res.latency_p99_s, failed=res.failed,
        participants=shape.participants if shape else 0,
        proposals=shape.proposals if shape else 0, rounds=rounds,
        rounds_done=res.flows_done if shape else 0, rounds_skipped=skipped + res.skipped,
        sent=res.sent, confirmed=res.confirmed, kicks=res.kicks, gas_by_fn=res.gas_by_fn,
        gas_per_block_mean=res.gas_per_block_mean, gas_limit=gas_limit, errors=res.errors,
        empty_block_ms=empty_block_ms)


# ------------------------------------------------------------------------------------------
# Plain transfers: the node's own baseline


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
    gas_limit = _block_gas_limit(node.url)
    # at least a block of transfers may wait: from the cap's floor of 64 alone, 1 s blocks
    # took 5 of a 6 s window to ramp up (x1.8 a block) and measured a third of the rate
    engine = _engine(node, timeout=warmup + window + 60, mine_interval=settings.mine_interval,
                     cap_horizon=_margin(node.block_time) + 0.5,
                     min_cap=gas_limit // 21_000 if node.block_time else None)
    try:
        res = engine.run(fixed_schedule(txs, rate, start),
                         Window(start + warmup, start + warmup + window))
    finally:
        engine.close()
    return _row(node, "transfers", rate, res, gas_limit, empty_block_ms=_empty_block_ms(node))


def saturated(row: Row) -> bool:
    """The node no longer keeps up: it confirms under 80% of what was offered, or the load
    could not even be offered at half the target (new rounds skipped while it was behind),
    or transactions failed."""
    return (row.confirmed_tps < 0.8 * row.offered_tps or row.offered_tps < 0.5 * row.target_tps
            or row.failed > 0)


# ------------------------------------------------------------------------------------------
# titanoboa baseline and the scale of one round


@dataclass(frozen=True)
class BoaResult:
    rounds: int
    txs: int
    seconds: float
    tps: float
    participants: int
    proposals: int


def run_boa(shape: RoundShape, rounds: int = 3, seed: int = 1) -> BoaResult:
    """The same rounds on titanoboa's embedded EVM through ``contracts.driver`` (in process,
    time travel instead of waiting): transactions per second of the round steps alone."""
    from contracts.driver import Deployment

    rng = random.Random(seed)
    total, seconds = 0, 0.0
    for _ in range(rounds):
        d = Deployment.deploy(rpc=None, phase_seconds=(60, 60, 60, 60, 3600, 3600))
        owners = [d.new_account(10**21) for _ in range(shape.owners)]
        stations = [d.new_account(10**21) for _ in range(shape.stations)]
        people = owners + stations
        claims = {p: [rng.randint(0, 10**16) for _ in range(shape.proposals)] for p in people}
        t = time.perf_counter()
        for p in people:
            d.register(p, "owner" if p in owners else "station", weight=rng.randint(1, 10),
                       deposit=10**18)
        d.next_phase()
        for m in range(shape.proposals):
            d.propose(owners[m % len(owners)], budget=10**16, bond=10**15)
        d.next_phase()
        for p in people:
            d.commit(p, claims[p])
        d.next_phase()
        for p in people:
            d.reveal(p)
        d.close()
        for p in people:
            d.settle(p, sender=p)
            d.withdraw(p)
        seconds += time.perf_counter() - t
        total += shape.txs
    return BoaResult(rounds, total, seconds, total / seconds, shape.participants, shape.proposals)


@dataclass(frozen=True)
class ScaleResult:
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


# ------------------------------------------------------------------------------------------
# Sweeps, output


NodeFactory = Callable[[], AbstractContextManager[nodes.Node]]


def sweep(fresh: NodeFactory, rates: Sequence[float], settings: Settings,
          runner: RoundRunner, progress=None) -> list[Row]:
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
                   progress=None) -> list[Row]:
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


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow(r.csv_row())


def _label(r: Row) -> str:
    if r.node == ON_DEMAND_KIND:
        return "anvil on-demand"
    return f"{r.node} {'automine' if not r.block_time_s else f'{r.block_time_s:g} s blocks'}"


def plot(path: Path, rows: Sequence[Row]) -> None:
    """Tx per block (mean, and max dashed) against generation rate, like the paper's fig. 6."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(_label(r) + ("" if r.workload == "rounds" else " transfers"),
                          []).append(r)
    for name, rs in groups.items():
        rs = sorted(rs, key=lambda r: r.offered_tps)
        xs = [max(r.offered_tps, 1e-3) for r in rs]
        line, = ax.plot(xs, [max(r.tx_per_block_mean, 1e-3) for r in rs], "o-",
                        label=f"{name}: mean")
        ax.plot(xs, [max(r.tx_per_block_max, 1e-3) for r in rs], "^--", color=line.get_color(),
                alpha=0.6, label=f"{name}: max")
    # the paper gives no data table: only that fig. 6 (1..5 tx/s, 0..15 tx per block)
    # saturates at about 2 tx/s; its plateau is marked, nothing else is drawn for it
    ax.plot([PAPER_SATURATION_TPS, 5], [PAPER_MAX_TX_PER_BLOCK, PAPER_MAX_TX_PER_BLOCK], "s-",
            color="black", lw=2, label="paper, fig. 6: saturated (~2 tx/s, ~15 tx/block)")
    ax.axvline(PAPER_SATURATION_TPS, color="grey", ls=":", lw=1)
    ax.axhline(PAPER_MAX_TX_PER_BLOCK, color="grey", ls=":", lw=1)
    ax.annotate("paper: saturates at ~2 tx/s,\n~15 tx per block", (PAPER_SATURATION_TPS,
                PAPER_MAX_TX_PER_BLOCK), textcoords="offset points", xytext=(8, 12), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("generation rate (offered transactions per second)")
    ax.set_ylabel("transactions per block")
    ax.set_title("HCFL rounds: transactions per block against generation rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows: Sequence[Row], title: str):
    from rich.table import Table

    t = Table(title=title)
    for col in ("node", "load", "target tx/s", "offered tx/s", "confirmed tx/s", "tx/block mean",
                "tx/block max", "latency p50 s", "p99 s", "failed", "round (n, M)", "rounds",
                "kicks"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(_label(r), r.workload, f"{r.target_tps:g}", f"{r.offered_tps:.1f}",
                  f"{r.confirmed_tps:.1f}", f"{r.tx_per_block_mean:.1f}",
                  str(r.tx_per_block_max), f"{r.latency_p50_s:.3f}", f"{r.latency_p99_s:.3f}",
                  str(r.failed), f"({r.participants}, {r.proposals})" if r.participants else "",
                  f"{r.rounds_done}/{r.rounds - r.rounds_skipped}" if r.rounds else "",
                  str(r.kicks))
    t.add_row("paper (geth)", "rounds", "", f"{PAPER_SATURATION_TPS:g} (saturation)", "", "",
              str(PAPER_MAX_TX_PER_BLOCK), "", "", "", "", "", "")
    return t


def gas_table(rows: Sequence[Row]):
    """Mean gas per function (receipts' gasUsed) in each node's fastest clean round run."""
    from rich.table import Table

    best: dict[str, Row] = {}
    for r in rows:
        if not r.failed and r.gas_by_fn and (_label(r) not in best
                                             or r.confirmed_tps > best[_label(r)].confirmed_tps):
            best[_label(r)] = r
    fns = ["register", "propose", "commit", "reveal", "close", "settle", "withdraw", "advance"]
    t = Table(title="gas per round transaction (mean gasUsed)")
    t.add_column("node")
    t.add_column("round (n, M)")
    for fn in fns:
        t.add_column(fn, justify="right")
    for name, r in best.items():
        t.add_row(name, f"({r.participants}, {r.proposals})",
                  *[f"{r.gas_by_fn[fn]:,.0f}" if fn in r.gas_by_fn else "" for fn in fns])
    return t


def summary(rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Per node: best confirmed round and transfer rates (runs with no failure), their ratio,
    and how full the blocks were at the best round rate: tx per block against what the block
    gas limit allows at that run's mean gas per round transaction (weighted as one whole round
    sends them), and gas used / limit (the same bound at the window's own mean gas)."""
    out: dict[str, dict[str, float]] = {}
    best: dict[str, Row] = {}
    for r in rows:
        s = out.setdefault(_label(r), {"rounds_tps": 0.0, "transfers_tps": 0.0})
        if r.failed:
            continue
        key = "rounds_tps" if r.workload == "rounds" else "transfers_tps"
        s[key] = max(s[key], r.confirmed_tps)
        if r.workload == "rounds" and (_label(r) not in best
                                       or r.confirmed_tps > best[_label(r)].confirmed_tps):
            best[_label(r)] = r
    for name, r in best.items():
        s = out[name]
        gas = _mean_round_gas(r)
        s["rounds_tx_per_block_mean_at_best"] = r.tx_per_block_mean
        s["rounds_tx_per_block_max"] = r.tx_per_block_max
        if gas:
            s["mean_round_gas"] = gas
            s["gas_bound_tx_per_block"] = r.gas_limit / gas
            s["tx_fill_of_gas_bound"] = r.tx_per_block_mean / (r.gas_limit / gas)
            s["gas_fill"] = r.gas_per_block_mean / r.gas_limit
        if r.tx_per_block_mean:
            # the same bound at the mean gas of the transactions these blocks actually held
            # (the window's mix of round steps need not be a whole round's)
            s["window_mean_gas"] = r.gas_per_block_mean / r.tx_per_block_mean
    for s in out.values():
        if s["transfers_tps"]:
            s["rounds_over_transfers"] = s["rounds_tps"] / s["transfers_tps"]
    return out


def _mean_round_gas(r: Row) -> float:
    """Mean gas of a round transaction, weighted by how many of each a round sends."""
    if not r.gas_by_fn or not r.participants:
        return 0.0
    n, m = r.participants, r.proposals
    counts = {"register": n, "propose": m, "commit": n, "reveal": n, "settle": n,
              "withdraw": n, "advance": 3, "close": 1}
    tot = sum(counts[f] * g for f, g in r.gas_by_fn.items() if f in counts)
    return tot / sum(counts[f] for f in r.gas_by_fn if f in counts)


# ------------------------------------------------------------------------------------------
# Command line


def _positive_floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not vals or any(not v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive rates, got {text!r}")
    return vals


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description="Contract throughput on a real Ethereum node (paper's figure 6): whole "
                    "HCFL rounds and plain transfers at growing generation rates.")
    p.add_argument("--quick", action="store_true",
                   help="CI run: anvil with on-demand mining only, 300 round tx/s and 2000 "
                        "transfers/s, short windows, no gas calibration")
    p.add_argument("--out", type=Path, default=Path("out/throughput"),
                   help="folder for throughput.csv, throughput_transfers.csv, .json, .png "
                        "(default: out/throughput)")
    p.add_argument("--node", choices=["anvil", "geth"], default="anvil",
                   help="node to start (default anvil; geth needs a geth binary on PATH)")
    p.add_argument("--rpc", help="use this running node instead of starting one")
    p.add_argument("--block-time", type=float, action="append", dest="block_times",
                   help="seconds per block (0 = automine); repeat for several nodes "
                        "(default: 0 and 1; with --quick: 0)")
    p.add_argument("--rates", type=_positive_floats,
                   help="comma-separated round generation rates, tx/s (default: 1 .. 4000, "
                        "stopping after saturation)")
    p.add_argument("--transfer-rates", type=_positive_floats,
                   help="comma-separated plain-transfer rates (default: 500 .. 8000)")
    p.add_argument("--window", type=float, default=None,
                   help="seconds of steady state measured per rate (default 6, quick 3)")
    p.add_argument("--anvil-automine", action="store_true",
                   help="with block time 0, use anvil's own automine instead of on-demand "
                        "mining (anvil 1.7.1's automine leaves ready transactions unmined and "
                        "stalls requests under sustained load; the load generator then mines "
                        "them with evm_mine after 0.25 s and counts these 'kicks')")
    p.add_argument("--mine-interval", type=float, default=MINE_INTERVAL, metavar="SECONDS",
                   help="with on-demand mining, the least time between the starts of two "
                        f"blocks (default {MINE_INTERVAL}; 0 = a block as soon as the last one "
                        "is built)")
    p.add_argument("--no-boa", action="store_true", help="skip the titanoboa baseline")
    p.add_argument("--no-scale", action="store_true",
                   help="skip the scale of one round (64 to 1,024 participants, 32 proposals; "
                        "never run with --quick)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file or CI: no 80-column squeeze of the table
        console = Console(width=200)
    if not 0 <= args.mine_interval <= 1:
        parser.error(f"--mine-interval: expected seconds in [0, 1], got {args.mine_interval}")
    if args.window is not None and not args.window > 0:
        parser.error(f"--window: expected seconds > 0, got {args.window}")
    block_times = args.block_times or ([0.0] if args.quick or args.rpc else [0.0, 1.0])
    if any(b < 0 for b in block_times):
        parser.error("--block-time: expected seconds >= 0")
    if args.rpc and len(block_times) > 1:
        parser.error("--rpc: give at most one --block-time (the node's own)")
    rates = args.rates or (QUICK_RATES if args.quick else FULL_RATES)
    t_rates = args.transfer_rates or (QUICK_TRANSFER_RATES if args.quick else TRANSFER_RATES)
    settings = Settings(window_s=args.window or (3.0 if args.quick else 6.0),
                        min_window_txs=10 if args.quick else 30, quick=args.quick,
                        mine_interval=args.mine_interval)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out: cannot create {args.out}: {exc}")

    rows: list[Row] = []
    extra: dict = {"scale": [], "boa": None, "calibration_gas": {}}

    def progress(row: Row) -> None:
        console.print(f"  {_label(row)} {row.workload} @ {row.target_tps:g} tx/s: "
                      f"confirmed {row.confirmed_tps:.1f} tx/s, {row.tx_per_block_mean:.1f} "
                      f"tx/block (max {row.tx_per_block_max}), p50 {row.latency_p50_s:.3f} s, "
                      f"failed {row.failed}"
                      + (f", then an empty block in {row.empty_block_ms:.1f} ms"
                         if row.empty_block_ms is not None else "")
                      + (f", errors {row.errors[:2]}" if row.errors else ""))

    try:
        for bt in block_times:
            fresh = functools.partial(_node, args, bt)
            with fresh() as node:
                console.print(f"[bold]{_label(_row_stub(node))}[/]"
                              + (f" at {node.url}" if args.rpc else ": a fresh node per run"))
                runner = RoundRunner(node, settings)
                if not args.quick:  # CI keeps the generous limits: packing is not its point
                    extra["calibration_gas"][_label(_row_stub(node))] = runner.calibrate(
                        max(shape_for_rate(r).proposals for r in rates))
            rows += sweep(fresh, rates, settings, runner, progress)
            rows += transfer_sweep(fresh, t_rates, settings, progress)
            if not args.no_scale and not args.quick and not bt:
                sizes = [(64, 32), (256, 32), (1024, 32)]
                for n, m in sizes:
                    with fresh() as node:
                        runner.use(node)
                        sc = run_scale(runner, n, m)
                    extra["scale"].append(asdict(sc))
                    console.print(f"  scale: {n} participants, {m} proposals: "
                                  f"{'completed' if sc.completed else 'FAILED'} in "
                                  f"{sc.seconds:.1f} s; per 30M-gas block: {sc.per_block}")
                    if not sc.completed:
                        break
    except nodes.NodeUnavailable as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]: nodes stopped")
        return 130
    if not args.no_boa:
        shape = shape_for_rate(rates[-1])
        extra["boa"] = asdict(run_boa(shape, rounds=1 if args.quick else 3))
        console.print(f"titanoboa (in process): {extra['boa']['tps']:.0f} round tx/s "
                      f"({shape.participants} participants, {shape.proposals} proposals)")

    round_rows = [r for r in rows if r.workload == "rounds"]
    write_csv(args.out / "throughput.csv", round_rows)
    write_csv(args.out / "throughput_transfers.csv", [r for r in rows if r.workload != "rounds"])
    extra["summary"] = summary(rows)
    (args.out / "throughput.json").write_text(json.dumps(
        {"rows": [asdict(r) for r in rows], **extra}, indent=1, default=str))
    plot(args.out / "throughput.png", rows)
    console.print(table(rows, "HCFL contract throughput (paper: ~2 tx/s, ~15 tx/block)"))
    console.print(gas_table(round_rows))
    for name, s in extra["summary"].items():
        console.print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in s.items()))
    console.print(f"wrote {args.out}/throughput.csv, throughput_transfers.csv, throughput.json, "
                  "throughput.png")
    return 0


@contextlib.contextmanager
def _node(args: argparse.Namespace, block_time: float) -> Iterator[nodes.Node]:
    """The node of the command line (a new one each time, but with ``--rpc``)."""
    on_demand = args.node == "anvil" and not block_time and not args.rpc \
        and not args.anvil_automine
    # a constant zero base fee: under saturation EIP-1559 raises it 12.5% per full block,
    # past any fixed max fee of pre-signed transactions (which would then wait forever); the
    # paper's private chain has no fee market either. --prune-history: a run mines thousands
    # of blocks, whose states anvil would otherwise write to disk
    anvil_args = (["--block-base-fee-per-gas", "0", "--prune-history", "--disable-console-log"]
                  if args.node == "anvil" else [])
    with nodes.start_node(args.node, block_time=block_time or None, rpc=args.rpc,
                          extra_args=anvil_args + (["--no-mining"] if on_demand else [])) as node:
        yield dataclasses.replace(node, kind=ON_DEMAND_KIND) if on_demand else node


def _row_stub(node: nodes.Node) -> Row:
    return Row(node=node.kind, block_time_s=node.block_time or 0.0, workload="", target_tps=0,
               offered_tps=0, confirmed_tps=0, tx_per_block_mean=0, tx_per_block_max=0,
               latency_p50_s=0, latency_p99_s=0, failed=0)


if __name__ == "__main__":
    sys.exit(main())
