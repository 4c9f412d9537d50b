"""How long ``hcfl web`` takes to show a deployment with many rounds.

Claim checked: the page of a deployment of 10 rounds with 20 participants each loads fast
from a node that holds those rounds, a refresh costs the node nothing (the page is
rendered once per block), and a new block costs one small incremental read, not a reload.

Method: anvil (``contracts.nodes.start_node``) and one deployment; whole rounds played one
after the other through ``contracts.auction`` (10 owners and 10 stations a round by
default, 3 proposals, random claims from a fixed seed, every owner but the winner votes,
everyone withdraws, the next round starts with the pool as its subsidy). At each
checkpoint (after 1, 5 and 10 rounds by default) a fresh ``hcfl web`` server is started
in this process on a fresh reader, and timed:

- first load: from the server's start to ``GET /`` and the three plots answered (every
  event read from block 0, every round folded and audited, the plots drawn, the page
  rendered); matplotlib and the templates are imported before, as a running server has;
- refresh: ``GET /`` and the plots again;
- new block: one watcher tick after one more (empty) block is mined: the incremental read;
- baseline, in the same run: what ``hcfl audit`` does for the same deployment (every log
  read and decoded, every round audited) from a fresh client.

    python -m benchmarks.web                         # 10 rounds x 20 participants, checkpoints 1, 5, 10
    python -m benchmarks.web --rounds 2 --owners 2 --stations 2 --checkpoints 2   # seconds
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ETHER = 10**18


@dataclass(frozen=True)
class LoadTime:
    """One checkpoint's figures (seconds)."""

    rounds: int
    participants: int  # registrations over all rounds
    events: int
    first_load: float
    refresh: float
    new_block: float
    audit: float  # the baseline: hcfl audit's read and audit of the same deployment
    rounds_shown: int  # rounds the page's audit table lists (a check that it read them all)

    @property
    def ratio(self) -> float:
        return self.first_load / self.audit if self.audit else float("nan")


def play_rounds(d, rounds: int, stations: int, rng: random.Random,  # type: ignore[no-untyped-def]
                budgets: list[int], weights: list[int]) -> None:
    """Play ``rounds`` whole rounds on deployment ``d``: owners of ``weights`` propose
    ``budgets`` every round; the participants are fresh accounts each round."""
    from contracts.auction import Report, RoundPlan, finish_round, run_auction

    for _ in range(rounds):
        if d.phase() == "Finalized":
            d.start_round()
        plan = RoundPlan.from_profile(
            budgets=budgets, owner_weights=weights, station_weights=[rng.randint(1, 3) for _ in range(stations)],
            owner_values=[[rng.randint(0, 2 * ETHER // len(weights)) for _ in budgets] for _ in weights],
            station_costs=[[rng.randint(0, ETHER // (10 * stations)) for _ in budgets] for _ in range(stations)],
            bond=10**15)
        auction = run_auction(d, plan, settle="self-and-withdraw")
        report = Report(rng.randbytes(32), rng.randint(5000, 9500), [rng.randint(1, 100) for _ in range(stations)],
                        "http://127.0.0.1:9/model.pt")
        finish_round(d, auction, plan, report=report, punish=lambda _owner: rng.random() < 0.2)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return resp.read()


def measure_checkpoint(rpc: str, address: str, rounds: int) -> LoadTime:
    """Time a fresh page server, and the auditor's baseline, on the deployment as it is."""
    from hcfl_cli.audit import attach_chain, audit_events, rebuild, stored_contribution_hashes
    from hcfl_cli.web.app import Source, WebServer, make_watcher
    from hcfl_cli.web.plots import PLOTS

    t0 = time.perf_counter()
    chain = attach_chain(rpc, address)
    events = chain.chain_events()
    reported = [r.round_id for r in rebuild(events) if r.report is not None]
    audit_events(events, contribution_hashes=stored_contribution_hashes(chain, reported), address=address,
                 bonus_bps=int(chain.call("BONUS_BPS", [])))
    audit = time.perf_counter() - t0

    src = Source(rpc, address, poll_s=3600.0)  # one tick at start; the refresh must not wait for another
    t0 = time.perf_counter()
    with WebServer(src) as server:
        page = _get(server.url)
        for name in PLOTS:
            _get(f"{server.url}plots/{name}.svg")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        _get(server.url)
        for name in PLOTS:
            _get(f"{server.url}plots/{name}.svg")
        refresh = time.perf_counter() - t0
    shown = page.decode().count('<tr id="audit-')
    with tempfile.TemporaryDirectory() as tmp:
        w = make_watcher(src, Path(tmp))
        w.tick()
        chain.w3.provider.make_request("evm_mine", [])
        t0 = time.perf_counter()
        w.tick()
        new_block = time.perf_counter() - t0
        w.stop()
    registered = sum(1 for e in events if e.name == "Registered")
    return LoadTime(rounds, registered, len(events), first, refresh, new_block, audit, shown)


def _warm_imports() -> None:
    from hcfl_cli.web.page import Renderer
    from hcfl_cli.web.plots import plot_data, render

    Renderer()
    render("pool", plot_data([]))


def run(rpc: str, rounds: int, owners: int, stations: int, proposals: int, checkpoints: list[int],
        say=lambda _m: None, seed: int = 1) -> tuple[list[LoadTime], float]:  # type: ignore[no-untyped-def]
    """Build the deployment on the node at ``rpc`` round by round, measuring at each
    checkpoint; returns the figures and the seconds the rounds took to play."""
    from contracts.chain import connect
    from contracts.driver import Deployment
    from mechanism import least_deposit_per_weight

    rng = random.Random(seed)
    weights = [rng.randint(1, 3) for _ in range(owners)]
    budgets = [rng.randint(ETHER // 100, ETHER // 10) for _ in range(proposals)]
    _warm_imports()
    # every round has the same owners' weights and budgets, so one d fits all (budgets <= W * d)
    d = Deployment.deploy(chain=connect(rpc, fast=True), deposit_per_weight=least_deposit_per_weight(budgets, weights),
                          max_proposals=proposals, phase_seconds=[600] * 6)
    out, played, build = [], 0, 0.0
    for cp in sorted(set(checkpoints)):
        t0 = time.perf_counter()
        say(f"playing rounds {played + 1}..{cp}")
        play_rounds(d, cp - played, stations, rng, budgets, weights)
        build += time.perf_counter() - t0
        played = cp
        say(f"measuring the page at {cp} rounds")
        out.append(measure_checkpoint(rpc, d.address, cp))
    return out, build


def table(results: list[LoadTime], title: str) -> Table:
    t = Table(title=title)
    for col in ("rounds", "participants", "events", "first page load", "refresh", "new block", "hcfl audit (baseline)",
                "first load / audit", "rounds on page"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(str(r.rounds), str(r.participants), str(r.events), f"{r.first_load:.2f} s",
                  f"{r.refresh * 1000:.1f} ms", f"{r.new_block * 1000:.1f} ms", f"{r.audit:.2f} s", f"{r.ratio:.2f}x",
                  str(r.rounds_shown))
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.web",
                                 description="Load time of hcfl web's page for a deployment with many rounds.")
    ap.add_argument("--rounds", type=int, default=10, help="rounds to play (default 10)")
    ap.add_argument("--owners", type=int, default=10, help="owners per round (default 10)")
    ap.add_argument("--stations", type=int, default=10, help="stations per round (default 10)")
    ap.add_argument("--proposals", type=int, default=3, help="proposals per round (default 3)")
    ap.add_argument("--checkpoints", help="measure after these many rounds, e.g. 1,5,10 (default: 1, half, all)")
    ap.add_argument("--rpc", help="a running development node (default: start anvil)")
    args = ap.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    try:
        cps = ([int(x) for x in args.checkpoints.split(",")] if args.checkpoints
               else sorted({1, max(1, args.rounds // 2), args.rounds}))
    except ValueError:
        console.print(f"error: --checkpoints: expected whole numbers, got {args.checkpoints!r}")
        return 2
    if args.rounds < 1 or args.owners < 2 or args.stations < 1 or args.proposals < 1 \
            or any(not 1 <= c <= args.rounds for c in cps):
        console.print("error: --rounds/--owners/--stations/--proposals/--checkpoints: at least 1 round, 2 owners, "
                      "1 station, 1 proposal, checkpoints within 1..rounds")
        return 2
    from contracts.nodes import NodeUnavailable, start_node

    try:
        with start_node("anvil", rpc=args.rpc) as node:
            results, build = run(node.url, args.rounds, args.owners, args.stations, args.proposals, cps,
                                 say=lambda m: console.log(m))
    except NodeUnavailable as exc:
        console.print(f"error: {exc}")
        return 2
    console.print(table(results, f"hcfl web on anvil: {args.owners} owners + {args.stations} stations a round, "
                                 f"{args.proposals} proposals (this machine is shared: timings vary with its load)"))
    console.print(f"playing the {args.rounds} rounds took {build:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
