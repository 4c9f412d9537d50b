"""What the load engine (``benchmarks._load``) runs and what it reports: planned
transactions, the stages and flows they go out in, the measuring window and the results.

A flow is one auction round (or one plain transfer); its stages go out one after another,
each once the stage before it is mined and, where the contract requires it, the phase
deadline has passed. The engine fills in each ``PTx`` as it goes (sent, block, receipt).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


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


def wall_to_mono(wall: float) -> float:
    """Convert a wall-clock time (time.time) to the monotonic clock the engine runs on."""
    return time.monotonic() + (wall - time.time())


def fixed_schedule(txs: list[PTx], rate: float, start: float) -> list[Flow]:
    """Independent transactions (plain transfers) at ``rate`` per second from ``start``:
    one single-transaction flow each, so every one is its own new work."""
    return [Flow(stages=[Stage(txs=[p], at=start + k / rate, new_work=True)])
            for k, p in enumerate(txs)]
