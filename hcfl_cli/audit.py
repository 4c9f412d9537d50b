"""The auditor: rebuild every round from the contract's event logs alone and re-check it.

Anyone can run it against any deployment: the logs carry the registered weights and
deposits (``Registered``), the budgets (``Proposed``), the revealed claims (``Revealed``),
the recycled subsidy (``RoundStarted``), what the contract decided (``Closed``,
``Settled``, ``DustSwept``) and the winner's training report, whose contributions arrive in
chunks (``TrainingReported``, ``ContributionsReported``). The auditor recomputes each round with ``mechanism.settle``
and lists every difference; an empty list means the contract did what the mechanism says.
A participant that committed but never revealed counts as claiming all zeros (SPEC
section 5 step 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.chain import Event
from mechanism import Outcome, settle

OWNER, STATION = 1, 2


@dataclass
class RoundLog:
    """What the logs say of one round (filled event by event)."""

    round_id: int
    subsidy: int = 0
    owners: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> {address, weight, deposit}
    stations: dict[int, dict[str, Any]] = field(default_factory=dict)
    budgets: dict[int, int] = field(default_factory=dict)
    claims: dict[str, list[int]] = field(default_factory=dict)  # address -> revealed claims
    closed: dict[str, Any] | None = None
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> Settled args
    dust: int | None = None
    report: dict[str, Any] | None = None  # TrainingReported args (its first chunk included)
    chunks: dict[int, list[int]] = field(default_factory=dict)  # first station -> contributions

    @property
    def contributions(self) -> list[int] | None:
        """The winner's reported contribution of every station, joined from its chunks;
        ``None`` until the report lists every station (or when it has a gap)."""
        if self.report is None:
            return None
        out: list[int] = []
        while len(out) in self.chunks and self.chunks[len(out)]:
            out += self.chunks[len(out)]
        return out if len(out) == int(self.report["stations"]) else None


@dataclass(frozen=True)
class RoundAudit:
    round_id: int
    differences: list[str]
    reference: Outcome | None
    participants: int
    proposals: int

    @property
    def ok(self) -> bool:
        return not self.differences


def _addr(a: Any) -> str:
    return str(a).lower()


def rebuild(events: Iterable[Event]) -> list[RoundLog]:
    """Group a deployment's events into rounds, in order."""
    rounds: dict[int, RoundLog] = {}
    for ev in events:
        a = ev.args
        if "round_id" not in a:
            continue
        r = rounds.setdefault(int(a["round_id"]), RoundLog(int(a["round_id"])))
        if ev.name == "RoundStarted":
            r.subsidy = int(a["subsidy"])
        elif ev.name == "Registered":
            side = r.owners if int(a["role"]) == OWNER else r.stations
            side[int(a["index"])] = {"address": _addr(a["participant"]), "weight": int(a["weight"]),
                                     "deposit": int(a["deposit"])}
        elif ev.name == "Proposed":
            r.budgets[int(a["index"])] = int(a["budget"])
        elif ev.name == "Revealed":
            r.claims[_addr(a["participant"])] = [int(c) for c in a["claims"]]
        elif ev.name == "Closed":
            r.closed = dict(a)
        elif ev.name == "Settled":
            r.settled[_addr(a["participant"])] = dict(a)
        elif ev.name == "DustSwept":
            r.dust = int(a["dust"])
        elif ev.name == "TrainingReported":
            r.report = dict(a)
            r.chunks[0] = [int(c) for c in a["contributions"]]
        elif ev.name == "ContributionsReported":
            r.chunks[int(a["first"])] = [int(c) for c in a["contributions"]]
    return [rounds[k] for k in sorted(rounds)]


def _dense(side: dict[int, dict[str, Any]], what: str, round_id: int) -> list[dict[str, Any]]:
    if sorted(side) != list(range(len(side))):
        raise ValueError(f"round {round_id}: {what} indices in the logs are not 0..n-1: {sorted(side)}")
    return [side[i] for i in range(len(side))]


def audit_round(log: RoundLog) -> RoundAudit:
    """Recompute one round with the reference and compare with what the contract logged."""
    diffs: list[str] = []
    owners = _dense(log.owners, "owner", log.round_id)
    stations = _dense(log.stations, "station", log.round_id)
    m = len(log.budgets)
    if log.closed is None or not owners or not stations or m == 0:
        return RoundAudit(log.round_id, [], None, len(owners) + len(stations), m)
    budgets = [log.budgets[k] for k in range(m)]
    zeros = [0] * m
    ref = settle(
        budgets=budgets,
        owner_weights=[o["weight"] for o in owners],
        station_weights=[s["weight"] for s in stations],
        owner_values=[log.claims.get(o["address"], zeros) for o in owners],
        station_costs=[log.claims.get(s["address"], zeros) for s in stations],
        subsidy=log.subsidy,
    )
    winner = int(log.closed["winner"]) if log.closed["has_winner"] else None
    if winner != ref.winner:
        diffs.append(f"winner: chain {winner}, reference {ref.winner}")
    welfare = [int(w) for w in log.closed["welfare"]]
    if welfare != ref.welfare:
        diffs.append(f"welfare: chain {welfare}, reference {ref.welfare}")
    for label, people, shares, taxes in (
        ("owner", owners, ref.owner_share, ref.owner_tax),
        ("station", stations, ref.station_share, ref.station_tax),
    ):
        for i, p in enumerate(people):
            s = log.settled.get(p["address"])
            if s is None:
                continue  # not settled yet: nothing to compare
            if int(s["share"]) != shares[i]:
                diffs.append(f"{label} {i} share: chain {int(s['share'])}, reference {shares[i]}")
            if int(s["tax"]) != taxes[i]:
                diffs.append(f"{label} {i} tax: chain {int(s['tax'])}, reference {taxes[i]}")
    if log.dust is not None and log.dust != ref.dust:
        diffs.append(f"dust: chain {log.dust}, reference {ref.dust}")
    return RoundAudit(log.round_id, diffs, ref, len(owners) + len(stations), m)


def audit_events(events: Sequence[Event]) -> list[RoundAudit]:
    """Audit every round found in ``events``."""
    return [audit_round(r) for r in rebuild(events)]


def fetch_events(rpc: str, address: str, from_block: int = 0) -> list[Event]:
    """Every log of the contract at ``address`` on the node at ``rpc``, decoded, in order."""
    from web3 import Web3

    from contracts.build import compiled
    from contracts.chain import EventDecoder

    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ValueError(f"--rpc: no JSON-RPC node answers at {rpc}")
    if not Web3.is_address(address):
        raise ValueError(f"--address: not an address: {address!r}")
    address = Web3.to_checksum_address(address)
    if not w3.eth.get_code(address):
        raise ValueError(f"--address: no contract at {address} on {rpc}")
    decoder = EventDecoder(compiled().abi)
    logs = w3.eth.get_logs({"address": address, "fromBlock": from_block, "toBlock": "latest"})
    out = []
    for log in logs:
        ev = decoder.decode([bytes(t) for t in log["topics"]], bytes(log["data"]))
        if ev is not None:
            out.append(ev)
    return out
