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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.chain import Event
from contracts.constants import ROLE_OWNER
from contracts.driver import commitment, contributions_hash
from mechanism import Outcome, settle


@dataclass
class RoundLog:
    """What the logs say of one round (filled event by event)."""

    round_id: int
    subsidy: int = 0
    owners: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> {address, weight, deposit}
    stations: dict[int, dict[str, Any]] = field(default_factory=dict)
    budgets: dict[int, int] = field(default_factory=dict)
    claims: dict[str, list[int]] = field(default_factory=dict)  # address -> revealed claims
    salts: dict[str, bytes] = field(default_factory=dict)  # address -> revealed salt
    commitments: dict[str, bytes] = field(default_factory=dict)  # address -> last commitment
    closed: dict[str, Any] | None = None
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> Settled args
    dust: int | None = None
    report: dict[str, Any] | None = None  # TrainingReported args (its first chunk included)
    chunks: dict[int, list[int]] = field(default_factory=dict)  # first station -> contributions
    bonuses: dict[int, int] = field(default_factory=dict)  # station index -> credited bonus (SPEC section 9)
    cancelled: bool = False

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
    """One round's audit. ``unauditable`` says why nothing could be compared (a round
    never closed has no outcome to check); such a round is not ``ok``."""

    round_id: int
    differences: list[str]
    reference: Outcome | None
    participants: int
    proposals: int
    unauditable: str | None = None

    @property
    def auditable(self) -> bool:
        return self.unauditable is None

    @property
    def ok(self) -> bool:
        return self.auditable and not self.differences


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
            side = r.owners if int(a["role"]) == ROLE_OWNER else r.stations
            side[int(a["index"])] = {"address": _addr(a["participant"]), "weight": int(a["weight"]),
                                     "deposit": int(a["deposit"])}
        elif ev.name == "Proposed":
            r.budgets[int(a["index"])] = int(a["budget"])
        elif ev.name == "Committed":
            r.commitments[_addr(a["participant"])] = bytes(a["commitment"])
        elif ev.name == "Revealed":
            r.claims[_addr(a["participant"])] = [int(c) for c in a["claims"]]
            r.salts[_addr(a["participant"])] = bytes(a["salt"])
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
        elif ev.name == "BonusCredited":
            r.bonuses[int(a["index"])] = int(a["bonus"])
        elif ev.name == "Finalized" and a["cancelled"]:
            r.cancelled = True
    return [rounds[k] for k in sorted(rounds)]


def _dense(side: dict[int, dict[str, Any]], what: str, round_id: int) -> list[dict[str, Any]]:
    if sorted(side) != list(range(len(side))):
        raise ValueError(f"round {round_id}: {what} indices in the logs are not 0..n-1: {sorted(side)}")
    return [side[i] for i in range(len(side))]


def audit_round(log: RoundLog, expected_contributions: Sequence[int] | None = None,
                chain_contributions_hash: bytes | None = None, address: str | None = None,
                bonus_bps: int = 0) -> RoundAudit:
    """Recompute one round with the reference and compare with what the contract logged:
    the choice, every share, tax and payout, the dust, and the winner's reported
    contributions (complete, one per station, against ``expected_contributions`` and
    the hash the contract stored, when given). With the deployment's ``bonus_bps``
    (SPEC section 9) a station's logged share and payout are its weight part's, the
    logged dust leaves the bonus pool out, and every credited bonus is checked against
    the reference's split of the pool by the reported contributions (by weight without
    a complete report)."""
    owners = _dense(log.owners, "owner", log.round_id)
    stations = _dense(log.stations, "station", log.round_id)
    n, m = len(owners) + len(stations), len(log.budgets)
    if log.cancelled:
        diffs = [f"{label} {i} payout: chain {int(log.settled[p['address']]['payout'])}, deposit {p['deposit']}"
                 for label, side in (("owner", owners), ("station", stations)) for i, p in enumerate(side)
                 if p["address"] in log.settled and int(log.settled[p["address"]]["payout"]) != p["deposit"]]
        return RoundAudit(log.round_id, diffs, None, n, m)
    if log.closed is None:
        return RoundAudit(log.round_id, [], None, n, m, unauditable="never closed: no outcome to check yet")
    zeros = [0] * m
    ref = settle(
        budgets=[log.budgets[k] for k in range(m)],
        owner_weights=[o["weight"] for o in owners],
        station_weights=[s["weight"] for s in stations],
        owner_values=[log.claims.get(o["address"], zeros) for o in owners],
        station_costs=[log.claims.get(s["address"], zeros) for s in stations],
        subsidy=log.subsidy,
        bonus_bps=bonus_bps,
        no_show_stations=_no_shows(log, stations),
    )
    diffs = _choice_differences(log, ref)
    diffs += _settlement_differences(log, owners, stations, ref)
    # the settlements' dust: without the bonus pool, which the credits pay out later
    settled_dust = ref.dust - (ref.bonus_pool - sum(ref.station_bonus or []))
    if log.dust is not None and log.dust != settled_dust:
        diffs.append(f"dust: chain {log.dust}, reference {settled_dust}")
    diffs += _report_differences(log, len(stations), expected_contributions, chain_contributions_hash)
    if bonus_bps and log.bonuses:
        diffs += _bonus_differences(log, owners, stations, bonus_bps)
    if address is not None:
        diffs += _commitment_differences(log, address)
    return RoundAudit(log.round_id, diffs, ref, n, m)


def _bonus_differences(log: RoundLog, owners: list[dict[str, Any]], stations: list[dict[str, Any]],
                       bonus_bps: int) -> list[str]:
    """Every ``BonusCredited`` amount against the reference's bonus with the contributions
    the winner reported (the settlements do not depend on them; the bonuses do)."""
    m = len(log.budgets)
    zeros = [0] * m
    ref = settle(budgets=[log.budgets[k] for k in range(m)], owner_weights=[o["weight"] for o in owners],
                 station_weights=[s["weight"] for s in stations],
                 owner_values=[log.claims.get(o["address"], zeros) for o in owners],
                 station_costs=[log.claims.get(s["address"], zeros) for s in stations],
                 subsidy=log.subsidy, bonus_bps=bonus_bps, contributions=log.contributions,
                 no_show_stations=_no_shows(log, stations))
    expected = ref.station_bonus or [0] * len(stations)
    return [f"station {j} bonus: chain {paid}, reference {expected[j]}"
            for j, paid in sorted(log.bonuses.items()) if j >= len(expected) or paid != expected[j]]


def _no_shows(log: RoundLog, stations: list[dict[str, Any]]) -> list[int]:
    """The stations that never revealed (settled as SPEC section 9 says for them)."""
    return [j for j, s in enumerate(stations) if s["address"] not in log.claims]


def _commitment_differences(log: RoundLog, address: str) -> list[str]:
    """Every revealed claim list and salt, from the logs alone, against the commitment
    that participant logged: the round is rebuilt from what was sealed."""
    return [f"{who} reveal: claims and salt do not open its commitment"
            for who, claims in log.claims.items()
            if commitment(address, log.round_id, who, claims, log.salts.get(who, b"\x00" * 32))
            != log.commitments.get(who)]


def _choice_differences(log: RoundLog, ref: Outcome) -> list[str]:
    assert log.closed is not None
    diffs = []
    winner = int(log.closed["winner"]) if log.closed["has_winner"] else None
    if winner != ref.winner:
        diffs.append(f"winner: chain {winner}, reference {ref.winner}")
    welfare = [int(w) for w in log.closed["welfare"]]
    if welfare != ref.welfare:
        diffs.append(f"welfare: chain {welfare}, reference {ref.welfare}")
    return diffs


def _settlement_differences(log: RoundLog, owners: list[dict[str, Any]], stations: list[dict[str, Any]],
                            ref: Outcome) -> list[str]:
    """Share, tax and payout of every settled participant: an owner keeps its deposit less
    what it pays, a station gets its deposit plus what it receives, and only one that did
    not reveal forfeits a penalty."""
    diffs: list[str] = []
    weight = ref.station_weight_part or ref.station_share  # what a station is paid at settlement
    for label, people, shares, taxes, moves in (
        ("owner", owners, ref.owner_share, ref.owner_tax, [-x for x in ref.owner_pays]),
        ("station", stations, weight, ref.station_tax, [w - t for w, t in zip(weight, ref.station_tax)]),
    ):
        for i, p in enumerate(people):
            s = log.settled.get(p["address"])
            if s is None:
                continue  # not settled yet: nothing to compare
            for what, chain, want in (("share", int(s["share"]), shares[i]), ("tax", int(s["tax"]), taxes[i])):
                if chain != want:
                    diffs.append(f"{label} {i} {what}: chain {chain}, reference {want}")
            penalty = int(s["penalty"])
            if penalty and p["address"] in log.claims:
                diffs.append(f"{label} {i} penalty: chain {penalty}, but it revealed")
            payout = p["deposit"] + moves[i] - penalty
            if int(s["payout"]) != payout:
                diffs.append(f"{label} {i} payout: chain {int(s['payout'])}, reference {payout}")
    return diffs


def _report_differences(log: RoundLog, n_stations: int, expected: Sequence[int] | None,
                        stored_hash: bytes | None) -> list[str]:
    if log.report is None:
        return [] if expected is None else ["contributions: the winner never reported"]
    got = log.contributions
    if got is None:
        return [f"contributions: the report does not list all {n_stations} stations"]
    diffs = []
    if int(log.report["stations"]) != n_stations:
        diffs.append(f"contributions: report counts {int(log.report['stations'])} stations, {n_stations} registered")
    if expected is not None and list(got) != [int(c) for c in expected]:
        diffs.append(f"contributions: chain {got}, expected {list(expected)}")
    if stored_hash is not None and contributions_hash(got) != bytes(stored_hash):
        diffs.append("contributions: the logged contributions do not hash to the contract's stored hash")
    return diffs


def audit_events(events: Sequence[Event], *, expected_contributions: Mapping[int, Sequence[int]] | None = None,
                 contribution_hashes: Mapping[int, bytes] | None = None, address: str | None = None,
                 bonus_bps: int = 0) -> list[RoundAudit]:
    """Audit every round found in ``events``; ``expected_contributions`` and
    ``contribution_hashes`` (round -> value) are compared with the logged reports; with
    the contract's ``address``, every reveal is checked against its logged commitment."""
    expected_contributions = expected_contributions or {}
    contribution_hashes = contribution_hashes or {}
    return [audit_round(r, expected_contributions.get(r.round_id), contribution_hashes.get(r.round_id), address,
                        bonus_bps) for r in rebuild(events)]


def fetch_events(rpc: str, address: str, from_block: int = 0) -> list[Event]:
    """Every log of the contract at ``address`` on the node at ``rpc``, decoded, in order."""
    return attach_chain(rpc, address).chain_events(from_block)


def stored_contribution_hashes(chain: Any, rounds: Iterable[int]) -> dict[int, bytes]:
    """The contributions hash the contract (``chain``, attached) stored for each of ``rounds``."""
    return {r: bytes(chain.call("contributions_hash", [r])) for r in rounds}


def attach_chain(rpc: str, address: str) -> Any:
    """A chain client on the node at ``rpc`` attached to the contract at ``address``;
    bad input is a ``ValueError`` naming ``--rpc`` or ``--address``."""
    from eth_utils import is_address

    from contracts.chain import connect

    if not is_address(address):
        raise ValueError(f"--address: not an address: {address!r}")
    try:
        chain = connect(rpc)
    except ValueError as e:
        raise ValueError(f"--rpc: {e}") from None
    try:
        chain.attach(address)
    except ValueError as e:
        raise ValueError(f"--address: {e}") from None
    return chain
