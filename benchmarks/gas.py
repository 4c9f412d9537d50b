"""Gas of every external function of the HCFL contract as participants N and proposals M grow.

Claim checked: no transaction's gas grows with N, and at M = 10 every participant,
including the first to reveal, stays within issue 3's targets (reveal <= 150,000, settle <=
100,000, commit and withdraw <= 60,000 gas) and a participant's own transactions of a round
within 300,000; every deployed contract (HCFL and the HCFLTraining it creates) keeps at
least 2,048 bytes of room under EIP-170. The baseline, measured in the same run on
an anvil of its own: a plain commit-reveal sealed-bid auction (``benchmarks/SealedBid.vy``,
10 bidders: commit with a deposit, reveal, withdraw), and HCFL's per-participant gas as a
multiple of one bidder's.

Method: for each (N, M) a fresh anvil node (``contracts.nodes.start_node``) and a fresh
deployment; one whole round driven by ``contracts.driver.Deployment`` through web3.py with
pre-signed transactions (N/2 owners, N/2 stations, M proposals, random claims from a fixed
seed, every owner but the winner votes, everyone withdraws, the next round is opened). Gas is
each transaction's receipt ``gasUsed`` (21,000 base, calldata, execution, refunds), never
titanoboa's estimate. One run per configuration: gas is deterministic given the profile.

    python -m benchmarks.gas                 # the full grid, N up to 1,000, M up to 32
    python -m benchmarks.gas --quick         # a small grid (seconds)
    python -m benchmarks.gas --json out.json # also write the figures
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGETS = {"register": 130_000, "reveal": 150_000, "settle": 100_000, "commit": 60_000, "withdraw": 60_000}
"""The gas ceilings at M = 10, for every participant (issue 3's, and registration with a
ticket from the contract's version 2)."""
PER_PARTICIPANT_TARGET = 300_000
"""A participant's whole round at M = 10 (register, commit, reveal, settle and withdraw)."""
BASELINE_SOURCE = Path(__file__).with_name("SealedBid.vy")
"""The baseline: a plain commit-reveal sealed-bid auction, deployed on the same node."""
BASELINE_BIDDERS = 10
CONTRACTS = ("HCFL", "HCFLTraining")
"""Every contract one deployment creates, in ``RpcChain.addresses`` order."""

FULL_GRID = [(10, 1), (20, 10), (100, 10), (1000, 10), (20, 32), (1000, 32)]
QUICK_GRID = [(4, 2), (20, 10)]
ORDER = [
    "register", "advance", "propose", "commit", "reveal", "close", "settle", "settle_and_withdraw",
    "report_training", "report_contributions", "vote", "finalize", "withdraw", "withdraw_bond",
    "start_round",
]


@dataclass(frozen=True)
class RoundGas:
    """Gas of one whole round: per function (min, max, calls) and the total."""

    n: int
    m: int
    per_function: dict[str, tuple[int, int, int]]
    total: int
    seconds: float
    code_bytes: dict[str, int] | None = None  # per contract, as the node stores it: runtime plus immutables


def profile(n: int, m: int, seed: int = 1) -> dict:
    """N/2 owners and N/2 stations (at least one each), M proposals, welfare mostly positive."""
    rng = random.Random(seed)
    n_o, n_s = max(1, n // 2), max(1, n - n // 2)
    ether = 10**18
    return dict(
        budgets=[rng.randint(ether // 100, ether) for _ in range(m)],
        owner_weights=[rng.randint(1, 10) for _ in range(n_o)],
        station_weights=[rng.randint(1, 10) for _ in range(n_s)],
        owner_values=[[rng.randint(0, 2 * ether) for _ in range(m)] for _ in range(n_o)],
        station_costs=[[rng.randint(0, ether // 10) for _ in range(m)] for _ in range(n_s)],
    )


def run_round(url: str, n: int, m: int, seed: int = 1) -> RoundGas:
    """Deploy on the node at ``url`` and drive one whole round; gas from the receipts."""
    from contracts.auction import Report, RoundPlan, finish_round, run_auction
    from contracts.chain import connect

    t0 = time.perf_counter()
    plan = RoundPlan.from_profile(**profile(n, m, seed), bond=10**15)
    d = plan.deploy(chain=connect(url, fast=True))
    # half the participants settle themselves, the other half settle and are paid at once
    people = len(plan.owners) + len(plan.stations)
    auction = run_auction(d, plan, settle=["self", "self-and-withdraw"] * (people // 2) + ["self"] * (people % 2))
    report = Report(b"\x01" * 32, 9000, [1 + j for j in range(len(auction.stations))])
    finish_round(d, auction, plan, report=report)
    d.start_round()
    per = {fn: (min(g), max(g), len(g)) for fn, g in d.gas.items()}
    total = sum(sum(g) for fn, g in d.gas.items() if fn != "start_round")
    code = {name: len(d.chain.w3.eth.get_code(a)) for name, a in zip(CONTRACTS, d.chain.addresses)}
    return RoundGas(n, m, per, total, time.perf_counter() - t0, code)


@dataclass(frozen=True)
class BaselineGas:
    """Gas of the plain sealed-bid auction per function (min, max, calls), from receipts."""

    bidders: int
    per_function: dict[str, tuple[int, int, int]]

    @property
    def per_bidder(self) -> int:
        """The most one bidder's own transactions cost: commit, reveal, withdraw, each at its dearest."""
        return sum(self.per_function[fn][1] for fn in ("commit", "reveal", "withdraw"))


def run_baseline(url: str, bidders: int = BASELINE_BIDDERS, seed: int = 1) -> BaselineGas:
    """Deploy ``SealedBid.vy`` on the node at ``url`` (a development node: its unlocked
    accounts send, and its clock is moved) and run one auction of ``bidders`` random bids."""
    import vyper
    from eth_abi import encode
    from eth_utils import keccak
    from web3 import Web3

    out = vyper.compile_code(BASELINE_SOURCE.read_text(), output_formats=["abi", "bytecode"])
    w3 = Web3(Web3.HTTPProvider(url))
    accounts = w3.eth.accounts[:bidders]
    if len(accounts) < bidders:
        raise ValueError(f"bidders: the node unlocks {len(accounts)} accounts, asked for {bidders}")
    factory = w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    deployed = w3.eth.wait_for_transaction_receipt(factory.constructor(600, 600).transact({"from": accounts[0]}))
    auction = w3.eth.contract(address=deployed["contractAddress"], abi=out["abi"])
    rng = random.Random(seed)
    gas: dict[str, list[int]] = {"commit": [], "reveal": [], "withdraw": []}
    bids = {a: (rng.randint(10**15, 10**18), rng.randbytes(32)) for a in accounts}

    def send(fn: str, who: str, *args: object, value: int = 0) -> None:
        tx = getattr(auction.functions, fn)(*args).transact({"from": who, "value": value})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"baseline {fn} reverted")
        gas[fn].append(int(receipt["gasUsed"]))

    for a, (bid, salt) in bids.items():
        sealed = keccak(encode(["address", "address", "uint256", "bytes32"], [auction.address, a, bid, salt]))
        send("commit", a, sealed, value=bid + rng.randint(0, 10**17))
    w3.provider.make_request("evm_increaseTime", [601])
    w3.provider.make_request("evm_mine", [])
    for a, (bid, salt) in bids.items():
        send("reveal", a, bid, salt)
    w3.provider.make_request("evm_increaseTime", [601])
    w3.provider.make_request("evm_mine", [])
    for a in accounts:
        send("withdraw", a)
    return BaselineGas(bidders, {fn: (min(g), max(g), len(g)) for fn, g in gas.items()})


def measure(grid: list[tuple[int, int]], console: Console) -> list[RoundGas]:
    from contracts.nodes import start_node

    out = []
    for n, m in grid:
        with start_node("anvil") as node:
            console.print(f"[dim]N={n:>5} M={m:>2}: one round on anvil ...[/dim]", end="")
            rg = run_round(node.url, n, m)
            console.print(f"[dim] {rg.seconds:.1f} s[/dim]")
        out.append(rg)
    return out


def table(results: list[RoundGas]) -> Table:
    t = Table(title="HCFL gas per external function (anvil receipts; max over calls, min in brackets)")
    t.add_column("function")
    for r in results:
        t.add_column(f"N={r.n}\nM={r.m}", justify="right")
    t.add_column("target\n(M=10)", justify="right")
    for fn in ORDER:
        row = [fn]
        for r in results:
            if fn in r.per_function:
                lo, hi, _ = r.per_function[fn]
                ok = ""
                if r.m == 10 and fn in TARGETS:
                    ok = " [green]ok[/green]" if hi <= TARGETS[fn] else " [red]OVER[/red]"
                row.append(f"{hi:,}{ok}" + (f"\n[dim]({lo:,})[/dim]" if lo != hi else ""))
            else:
                row.append("-")
        row.append(f"{TARGETS[fn]:,}" if fn in TARGETS else "")
        t.add_row(*row)
    t.add_row("[b]whole round[/b]", *[f"[b]{r.total:,}[/b]" for r in results], "")
    t.add_row("[b]per participant[/b]\n[dim](register, commit, reveal,\nsettle_and_withdraw; max)[/dim]",
              *[f"[b]{per_participant(r):,}[/b]" for r in results], f"{PER_PARTICIPANT_TARGET:,}")
    return t


def baseline_table(base: BaselineGas, results: list[RoundGas]) -> Table:
    """The baseline's gas per function, and HCFL's per-participant gas as a multiple of it."""
    t = Table(title="Baseline: a plain sealed-bid auction",
              caption=f"benchmarks/SealedBid.vy, {base.bidders} bidders, anvil receipts in this run")
    t.add_column("")
    t.add_column("gas (max)", justify="right")
    t.add_column("(min)", justify="right")
    t.add_column("x baseline", justify="right")
    for fn, (lo, hi, _) in base.per_function.items():
        t.add_row(fn, f"{hi:,}", f"{lo:,}", "")
    t.add_row("[b]per bidder[/b]", f"[b]{base.per_bidder:,}[/b]", "", "1.00")
    for r in results:
        if r.m == 10:
            t.add_row(f"HCFL per participant (N={r.n}, M=10)", f"{per_participant(r):,}", "",
                      f"{per_participant(r) / base.per_bidder:.2f}")
            break
    return t


def code_table(stored: dict[str, int], runtime: dict[str, int]) -> Table:
    """Every deployed contract's code as the node stores it, and its room under EIP-170."""
    from contracts.build import EIP170_LIMIT, EIP170_ROOM

    t = Table(title="Deployed code (one deployment transaction creates both contracts)",
              caption=f"EIP-170 limit {EIP170_LIMIT:,} bytes; target room {EIP170_ROOM:,} bytes each")
    for col in ("contract", "runtime", "stored (runtime + immutables)", "room under EIP-170"):
        t.add_column(col, justify="left" if col == "contract" else "right")
    for name, size in stored.items():
        room = EIP170_LIMIT - size
        ok = " [green]ok[/green]" if room >= EIP170_ROOM else " [red]SHORT[/red]"
        t.add_row(name, f"{runtime.get(name, 0):,}", f"{size:,}", f"{room:,}{ok}")
    return t


def per_participant(r: RoundGas) -> int:
    """The most one participant's own transactions of a round cost: register, commit, reveal
    and its settlement with payment (``settle_and_withdraw``, or ``settle`` + ``withdraw``)."""
    top = {fn: r.per_function[fn][1] for fn in r.per_function}
    pay = top.get("settle_and_withdraw", top.get("settle", 0) + top.get("withdraw", 0))
    return top.get("register", 0) + top.get("commit", 0) + top.get("reveal", 0) + pay


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.gas",
        description="Gas of every HCFL contract function as participants N and proposals M grow, "
        "from anvil's transaction receipts.",
    )
    ap.add_argument("--quick", action="store_true", help="a small grid that runs in seconds")
    ap.add_argument(
        "--grid", metavar="N:M,...", help="configurations to run, e.g. 10:10,1000:32 (N participants, M proposals)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped into a file or a note: do not squeeze the columns
        console = Console(width=140)
    grid = QUICK_GRID if args.quick else FULL_GRID
    if args.grid:
        try:
            grid = [tuple(int(x) for x in item.split(":")) for item in args.grid.split(",")]
            if any(len(g) != 2 or g[0] < 2 or not 1 <= g[1] <= 32 for g in grid):
                raise ValueError
        except ValueError:
            console.print(f"error: --grid: expected N:M pairs with N >= 2 and 1 <= M <= 32, got {args.grid!r}")
            return 2
    from contracts.nodes import NodeUnavailable, start_node
    from contracts import compiled

    art = compiled()
    assert art.training is not None
    runtime = {"HCFL": len(art.bytecode_runtime), "HCFLTraining": len(art.training.bytecode_runtime)}
    try:
        results = measure(grid, console)
    except NodeUnavailable as exc:
        console.print(f"error: {exc} (run scripts/setup.sh to install anvil)")
        return 2
    console.print(table(results))
    with start_node("anvil") as node:
        base = run_baseline(node.url)
    console.print(baseline_table(base, results))
    console.print(code_table(results[0].code_bytes or {}, runtime))
    for r in results:
        if r.n == 20 and r.m == 10:
            console.print(f"one full round, 10 owners / 10 stations / 10 proposals: {r.total:,} gas")
        if r.n == 1000:
            console.print(f"one full round, {r.n:,} participants / {r.m} proposals: {r.total:,} gas")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bytecode_bytes": runtime, "rounds": [asdict(r) for r in results],
                       "baseline": {**asdict(base), "per_bidder": base.per_bidder}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
