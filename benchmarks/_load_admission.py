"""The load engine's admission control: may a new round start, given the later stages of
the rounds already started and the node's capacity?

A round, once started, has to send its commits, reveals, settlements and withdrawals, each
within its phase, seconds later; a cap on the transactions unmined at the moment does not
see those. ``admits`` plays the queue forward bin by bin with them; ``Ledger`` keeps their
account as flows are admitted, scheduled and finished. Pure: no node, no clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from benchmarks._load_flows import Flow, Stage

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
