"""The in-process baseline: the same rounds on titanoboa's embedded EVM.

No node, no network, no waiting for blocks (time travel instead of phase deadlines): what the
round steps alone cost in an EVM, to set the node's figures against. One self-contained
function, so that it can be rewritten on its own.
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
