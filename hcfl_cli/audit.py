"""The auditor: rebuild every round from the contract's event logs alone and re-check it.

Anyone can run it against any deployment: the logs carry the registered weights and
deposits (``Registered``), the budgets (``Proposed``), the revealed claims (``Revealed``),
the recycled subsidy (``RoundStarted``), what the contract decided (``Closed``,
``Settled``, ``DustSwept``) and the winner's training report, whose contributions arrive in
chunks (``TrainingReported``, ``ContributionsReported``). Each round is read from its
``contracts.round_view.RoundView`` (the events folded once), recomputed with
``mechanism.settle``, and every difference is listed; an empty list means the contract did
what the mechanism says. A participant that committed but never revealed counts as claiming
all zeros (SPEC section 5 step 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.chain import Event
from contracts.commitments import ZERO32, commitment, contributions_hash
from contracts.round_view import Member, RoundView, fold_rounds
from mechanism import Outcome, settle

RoundLog = RoundView
"""What the logs say of one round (the name this module gave it before the round view)."""


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


def rebuild(events: Iterable[Event]) -> list[RoundView]:
    """Group a deployment's events into rounds, in order (``contracts.round_view.fold_rounds``)."""
    return list(fold_rounds(events).values())


def _dense(side: Sequence[Member], what: str, round_id: int) -> list[Member]:
    if [m.index for m in side] != list(range(len(side))):
        raise ValueError(f"round {round_id}: {what} indices in the logs are not 0..n-1: {[m.index for m in side]}")
    return list(side)


def reference_of(view: RoundView, bonus_bps: int = 0, contributions: Sequence[int] | None = None) -> Outcome:
    """``mechanism.settle`` on what the logs of round ``view`` say was revealed (a member that
    never revealed claims all zeros, and a station that never revealed is settled as SPEC
    section 9 says of it)."""
    zeros = [0] * len(view.proposals)
    owners, stations = view.owners, view.stations
    return settle(budgets=view.budgets, owner_weights=[o.weight for o in owners],
                  station_weights=[s.weight for s in stations],
                  owner_values=[o.claims or zeros for o in owners], station_costs=[s.claims or zeros for s in stations],
                  subsidy=view.subsidy, bonus_bps=bonus_bps, contributions=contributions,
                  no_show_stations=[j for j, s in enumerate(stations) if s.claims is None])


def audit_round(log: RoundView, expected_contributions: Sequence[int] | None = None,
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
    n, m = len(owners) + len(stations), len(log.proposals)
    if log.cancelled:
        diffs = [f"{label} {i} payout: chain {p.settled.payout}, deposit {p.deposit}"
                 for label, side in (("owner", owners), ("station", stations)) for i, p in enumerate(side)
                 if p.settled is not None and p.settled.payout != p.deposit]
        return RoundAudit(log.round_id, diffs, None, n, m)
    if log.closed is None:
        return RoundAudit(log.round_id, [], None, n, m, unauditable="never closed: no outcome to check yet")
    ref = reference_of(log, bonus_bps)
    diffs = _choice_differences(log, ref)
    diffs += _settlement_differences(owners, stations, ref)
    # the settlements' dust: without the bonus pool, which the credits pay out later
    settled_dust = ref.dust - (ref.bonus_pool - sum(ref.station_bonus or []))
    if log.dust is not None and log.dust != settled_dust:
        diffs.append(f"dust: chain {log.dust}, reference {settled_dust}")
    diffs += _report_differences(log, len(stations), expected_contributions, chain_contributions_hash)
    if bonus_bps and any(s.bonus is not None for s in stations):
        diffs += _bonus_differences(log, stations, bonus_bps)
    if address is not None:
        diffs += _commitment_differences(log, address)
    return RoundAudit(log.round_id, diffs, ref, n, m)


def _bonus_differences(log: RoundView, stations: list[Member], bonus_bps: int) -> list[str]:
    """Every ``BonusCredited`` amount against the reference's bonus with the contributions
    the winner reported (the settlements do not depend on them; the bonuses do)."""
    ref = reference_of(log, bonus_bps, log.contributions)
    expected = ref.station_bonus or [0] * len(stations)
    return [f"station {s.index} bonus: chain {s.bonus}, reference {expected[s.index]}"
            for s in stations if s.bonus is not None and (s.index >= len(expected) or s.bonus != expected[s.index])]


def _commitment_differences(log: RoundView, address: str) -> list[str]:
    """Every revealed claim list and salt, from the logs alone, against the commitment
    that participant logged: the round is rebuilt from what was sealed."""
    return [f"{m.address.lower()} reveal: claims and salt do not open its commitment"
            for m in log.members if m.revealed is not None
            and commitment(address, log.round_id, m.address, m.revealed.claims, m.revealed.salt or ZERO32)
            != m.commitment]


def _choice_differences(log: RoundView, ref: Outcome) -> list[str]:
    assert log.closed is not None
    diffs = []
    if log.winner != ref.winner:
        diffs.append(f"winner: chain {log.winner}, reference {ref.winner}")
    welfare = list(log.closed.welfare)
    if welfare != ref.welfare:
        diffs.append(f"welfare: chain {welfare}, reference {ref.welfare}")
    return diffs


def _settlement_differences(owners: list[Member], stations: list[Member], ref: Outcome) -> list[str]:
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
            s = p.settled
            if s is None:
                continue  # not settled yet: nothing to compare
            for what, chain, want in (("share", s.share, shares[i]), ("tax", s.tax, taxes[i])):
                if chain != want:
                    diffs.append(f"{label} {i} {what}: chain {chain}, reference {want}")
            if s.penalty and p.revealed is not None:
                diffs.append(f"{label} {i} penalty: chain {s.penalty}, but it revealed")
            payout = p.deposit + moves[i] - s.penalty
            if s.payout != payout:
                diffs.append(f"{label} {i} payout: chain {s.payout}, reference {payout}")
    return diffs


def _report_differences(log: RoundView, n_stations: int, expected: Sequence[int] | None,
                        stored_hash: bytes | None) -> list[str]:
    if log.report is None:
        return [] if expected is None else ["contributions: the winner never reported"]
    got = log.contributions
    if got is None:
        return [f"contributions: the report does not list all {n_stations} stations"]
    diffs = []
    if log.report.stations != n_stations:
        diffs.append(f"contributions: report counts {log.report.stations} stations, {n_stations} registered")
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


def audit_deployment(chain: Any, address: str, events: Sequence[Event] | None = None) -> list[RoundAudit]:
    """Every round of the deployment ``chain`` is attached to, from its logs (``events``,
    default read from the node), with the contributions hashes and the bonus fraction the
    contract stores."""
    from contracts.views import ContractViews

    events = chain.chain_events() if events is None else events
    reported = [r.round_id for r in rebuild(events) if r.report is not None]
    return audit_events(events, contribution_hashes=stored_contribution_hashes(chain, reported), address=address,
                        bonus_bps=ContractViews(chain).bonus_bps())


def fetch_events(rpc: str, address: str, from_block: int = 0) -> list[Event]:
    """Every log of the contract at ``address`` on the node at ``rpc``, decoded, in order."""
    return attach_chain(rpc, address).chain_events(from_block)


def stored_contribution_hashes(chain: Any, rounds: Iterable[int]) -> dict[int, bytes]:
    """The contributions hash the contract (``chain``, attached) stored for each of ``rounds``."""
    from contracts.views import ContractViews

    views = ContractViews(chain)
    return {r: views.contributions_hash(r) for r in rounds}


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
