"""The in-process baseline: the same rounds on titanoboa's embedded EVM.

No node, no network, no waiting for blocks (time travel instead of phase deadlines): what the
round steps alone cost in an EVM, to set the node's figures against. The rounds are played
by the project's one round walk (``contracts.auction``), as every other caller plays them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from benchmarks._load_rounds import RoundShape


@dataclass(frozen=True)
class BoaResult:
    """Round transactions per second on titanoboa."""

    rounds: int
    txs: int
    seconds: float
    tps: float
    participants: int
    proposals: int


def run_boa(shape: RoundShape, rounds: int = 3, seed: int = 1) -> BoaResult:
    """The same rounds on titanoboa's embedded EVM through the one round walk
    (``contracts.auction``; in process, time travel instead of waiting): transactions per
    second of the round steps alone, every participant settling and withdrawing itself."""
    from contracts.auction import Bidder, Offer, RoundPlan, run_auction

    rng = random.Random(seed)
    total, seconds = 0, 0.0
    for _ in range(rounds):
        def bidders(n: int) -> list[Bidder]:
            return [Bidder(rng.randint(1, 10), 10**18, [rng.randint(0, 10**16) for _ in range(shape.proposals)])
                    for _ in range(n)]

        plan = RoundPlan(bidders(shape.owners), bidders(shape.stations),
                         [Offer(m % shape.owners, 10**16, 10**15) for m in range(shape.proposals)],
                         deposit_per_weight=10**16)
        d = plan.deploy(None, phase_seconds=(60, 60, 60, 60, 3600, 3600))
        t = time.perf_counter()
        auction = run_auction(d, plan, settle="self")
        for p in auction.participants:
            d.withdraw(p)
        seconds += time.perf_counter() - t
        total += shape.txs
    return BoaResult(rounds, total, seconds, total / seconds, shape.participants, shape.proposals)
