"""The timing plan of a round run: phase lengths, deadlines and when each stage is sent.

Pure arithmetic on the rate, the round's shape and the node's block time; nothing here talks
to a node, so the plan is unit-tested on its own (``tests/test_throughput_plan.py``). The
runner (``benchmarks.throughput.runner``) deploys and signs to this plan, and the load
engine's admission control (``benchmarks._load_admission.admits``) reads the stage times it gives.

A round (``benchmarks._load_rounds.RoundPlanner.round``) is a list of stages; rounds start one
after another, ``spacing_s`` apart, so that their transactions add up to the target rate.
Times are relative to the round's Register deadline ``D`` (chain seconds): registration is
sent ``register_window_s`` before it, each deadline-gated phase change as soon as the phase
is over, every other stage one ``margin_s`` after the stage before it was sent and spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from benchmarks._load_rounds import RoundShape


def ceil_int(x: float) -> int:
    """``ceil`` that ignores float noise (3.0000000001 is 3)."""
    return int(math.ceil(x - 1e-9))


# On-demand mining: at most one block per 30 ms. Back-to-back blocks of a few dozen round
# transactions spend much of anvil's time on per-block work; measured with
# `--mine-interval 0 / 0.03 / 0.1`, see README.
MINE_INTERVAL = 0.03


@dataclass(frozen=True)
class Settings:
    """How long and how hard each run is."""

    window_s: float = 6.0  # steady-state measuring window
    warmup_s: float | None = None  # before the window; None: one round's length, at most 20 s
    min_window_txs: int = 30  # at low rates the window grows to hold this many transactions
    max_window_s: float = 30.0
    quick: bool = False
    slack_s: float = 1.5  # extra time per phase for the node (and this client) to lag
    mine_interval: float = MINE_INTERVAL  # on-demand mining: seconds between block starts


def margin_s(block_time: float | None) -> float:
    """Seconds from sending a transaction to seeing it mined, with slack."""
    return (block_time or 0.0) + 0.3


def round_seconds(phase_seconds: int, spread: float, margin: float) -> float:
    """About how long one round takes: register window, three phases, close, settle,
    withdraw."""
    return (spread + margin) + 3 * phase_seconds + margin + 2 * (spread + margin)


@dataclass(frozen=True)
class RoundPlan:
    """The timing of one run of rounds at one rate (see the module docstring)."""

    rate: float  # target round transactions per second
    shape: RoundShape
    spread_s: float  # a stage's transactions go out evenly over this long
    margin_s: float  # send to seen mined, with slack
    slack_s: float  # extra time a phase leaves the node to lag
    phase_s: int  # Propose, Commit and Reveal last this long (chain seconds)
    duration_s: float  # about how long one round takes
    spacing_s: float  # one round starts every this many seconds
    warmup_s: float  # before the measuring window: the pipeline of rounds fills up
    window_s: float  # the measuring window
    rounds: int

    @property
    def register_window_s(self) -> float:
        """How long before its Register deadline a round sends its registrations."""
        return self.spread_s + self.margin_s + self.slack_s

    @property
    def queue_horizon_s(self) -> float:
        """Seconds of the node's confirmation rate that may wait unmined: what each stage
        can lose to a queue and still be mined before its phase ends (the registrations
        have ``margin_s + slack_s``; this leaves them the slack for a slow client)."""
        return self.margin_s + 0.5

    @property
    def engine_timeout_s(self) -> float:
        return max(60.0, self.warmup_s + self.window_s + 4 * self.duration_s + 30)

    def deploy_lead_s(self, per_block: int, block_time: float | None) -> float:
        """Seconds from now to the first round's registrations: time to deploy every
        round's contract, ``per_block`` a block, and a second to spare."""
        bt = block_time or 0.0
        deploy = math.ceil(self.rounds / per_block) * bt + 0.02 * self.rounds + bt + 1.0
        return deploy + 1.0

    def register_deadlines(self, first_registration: float) -> list[int]:
        """Each round's Register deadline (whole seconds, wall clock) when the first round
        sends its registrations at ``first_registration``."""
        return [ceil_int(first_registration + c * self.spacing_s + self.register_window_s)
                for c in range(self.rounds)]


def plan_rounds(rate: float, shape: RoundShape, block_time: float | None, settings: Settings,
                *, measure: bool = True, rounds: int | None = None) -> RoundPlan:
    """The plan of rounds of ``shape`` at ``rate`` round transactions per second.

    ``measure``: with a warm-up and a window (else a bare run, e.g. calibration);
    ``rounds``: how many (else enough to fill warm-up and window)."""
    if not rate > 0:
        raise ValueError(f"rate: expected > 0, got {rate}")
    if block_time is not None and block_time < 0:
        raise ValueError(f"block_time: expected seconds >= 0, got {block_time}")
    margin = margin_s(block_time)
    biggest_stage = 2 * shape.participants
    spread = max(0.5, biggest_stage / rate)
    # a saturated chain with block times keeps up to a block of backlog, which a stage
    # waits out on top of its own block: one more block time of slack (1 s blocks at
    # twice their capacity had a few registers and commits land past the deadline)
    slack = settings.slack_s + (block_time or 0.0)
    phase = max(2, ceil_int(1.0 + spread + margin + slack))
    duration = round_seconds(phase, spread, margin)
    spacing = shape.txs / rate
    window = min(settings.max_window_s, max(settings.window_s, settings.min_window_txs / rate))
    if not measure:
        warmup = 0.0
    elif settings.warmup_s is not None:
        if settings.warmup_s < 0:
            raise ValueError(f"warmup_s: expected seconds >= 0, got {settings.warmup_s}")
        warmup = settings.warmup_s
    else:
        warmup = min(duration, 20.0)
    if rounds is None:
        rounds = max(1, ceil_int((warmup + window) / spacing))
    elif rounds < 1:
        raise ValueError(f"rounds: expected >= 1, got {rounds}")
    return RoundPlan(rate=rate, shape=shape, spread_s=spread, margin_s=margin, slack_s=slack,
                     phase_s=phase, duration_s=duration, spacing_s=spacing, warmup_s=warmup,
                     window_s=window, rounds=rounds)


class StageLike(Protocol):
    """What the stage times depend on (``benchmarks._load_flows.Stage`` has it)."""

    txs: Sequence[object]
    spread: float
    after_deadline: bool
    phase_seconds: int | None


def stage_times(stages: Sequence[StageLike], plan: RoundPlan) -> list[float]:
    """When each stage of a round is planned to start, in seconds from its Register
    deadline: the first ``register_window_s`` before it; a deadline-gated stage once the
    phase is over and the stage before it is mined (sent, spread, one margin); any other
    stage once the stage before it is mined. A stage with ``phase_seconds`` opens a phase
    that ends that long after it is mined (taken as when it is sent: a phase change is one
    transaction, and the slack covers its block)."""
    times: list[float] = []
    deadline = 0.0
    for k, stage in enumerate(stages):
        if k == 0:
            t = -plan.register_window_s
        else:
            t = times[-1] + stages[k - 1].spread + plan.margin_s
            if stage.after_deadline:
                t = max(t, deadline)
        if stage.phase_seconds is not None:
            deadline = t + stage.phase_seconds
        times.append(t)
    return times
