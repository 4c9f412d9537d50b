"""The one walk through a round of the contract (SPEC section 5), for every caller that plays one.

``settle_on_chain``, ``hcfl round``, the gas benchmark and the throughput benchmark's
titanoboa baseline all play rounds through these functions, so there is one place that
knows the order of the steps and what each participant sends:

    plan = RoundPlan.from_profile(**settle_kwargs, bond=10**15)
    d = plan.deploy(rpc)
    auction = run_auction(d, plan)          # register, propose, commit, reveal, close, settle all
    auction.closed.winner_index, auction.settled, auction.dust
    done = finish_round(d, auction, report=Report(model_hash, 9000, [7, 3]),
                        punish=lambda owner: False)   # report, vote, finalize, withdraw all

Everything returned is read from the contract's events; nothing is recomputed here.
Settlements are sent the way independent participants send them: on a JSON-RPC node, all
at once (each participant its own, or one sender for all), then waited for together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.chain import RpcChain
from contracts.driver import Deployment
from contracts.records import Closed, Finalized, Settled
from mechanism import deposit_bounds, least_deposit_per_weight

GAS_MONEY = 10**18
"""What each participant's account holds beyond its deposit and bond, for fees."""
ZERO_HASH = b"\x00" * 32


@dataclass(frozen=True)
class Bidder:
    """One participant of the plan: registered weight, deposit, and the claims it commits."""

    weight: int
    deposit: int
    claims: list[int]


@dataclass(frozen=True)
class Offer:
    """One proposal of the plan: its owner's index and what ``propose`` sends."""

    owner: int
    budget: int
    bond: int
    content_hash: bytes = ZERO_HASH
    accuracy_bps: int = 0
    training_rounds: int = 1
    label_mask: int = 2**10 - 1
    param_count: int = 0
    uri: str = ""


@dataclass(frozen=True)
class RoundPlan:
    """Who registers with what, what is proposed, and what everyone claims."""

    owners: list[Bidder]
    stations: list[Bidder]
    proposals: list[Offer]
    deposit_per_weight: int = 1  # the deployment's d this plan needs (budgets <= W * d)
    bonus_bps: int = 0  # the deployment's station bonus fraction (SPEC section 9)

    def deploy(self, rpc: str | None = None, **kwargs: Any) -> Deployment:
        """A fresh deployment whose ``d`` and bonus fraction are this plan's
        (``Deployment.deploy``'s options)."""
        return Deployment.deploy(rpc, deposit_per_weight=self.deposit_per_weight, bonus_bps=self.bonus_bps, **kwargs)

    def allowance(self, owner: int) -> int:
        """Proposals owner ``owner`` posts (its ticket's allowance), at least 1."""
        return max(1, sum(p.owner == owner for p in self.proposals))

    @classmethod
    def from_profile(
        cls,
        budgets: Sequence[int],
        owner_weights: Sequence[int],
        station_weights: Sequence[int],
        owner_values: Sequence[Sequence[int]],
        station_costs: Sequence[Sequence[int]],
        *,
        bond: int = 1,
        subsidy: int = 0,
        owner_deposits: Sequence[int] | None = None,
        station_deposits: Sequence[int] | None = None,
        bonus_bps: int = 0,
    ) -> RoundPlan:
        """A plan for ``mechanism.settle``'s keyword arguments: proposal ``m`` by owner
        ``m mod nO`` with content hash ``m``; deposits default to the least that lets
        everyone reveal (``mechanism.deposit_bounds``), and at least 1 wei (the contract
        refuses an empty deposit)."""
        dpw = least_deposit_per_weight(budgets, owner_weights)
        need_o, need_s = deposit_bounds(budgets, owner_weights, owner_values, station_costs, subsidy=subsidy,
                                        deposit_per_weight=dpw, bonus_bps=bonus_bps, station_weights=station_weights)
        od = list(owner_deposits) if owner_deposits is not None else [max(n, 1) for n in need_o]
        sd = list(station_deposits) if station_deposits is not None else [max(n, 1) for n in need_s]
        return cls(
            owners=[Bidder(w, dep, list(v)) for w, dep, v in zip(owner_weights, od, owner_values)],
            stations=[Bidder(u, dep, list(k)) for u, dep, k in zip(station_weights, sd, station_costs)],
            proposals=[Offer(m % len(owner_weights), C, bond, m.to_bytes(32, "big")) for m, C in enumerate(budgets)],
            deposit_per_weight=dpw,
            bonus_bps=bonus_bps,
        )


@dataclass(frozen=True)
class Auction:
    """What the contract logged of a round up to its settlements."""

    owners: list[str]  # addresses, in owner index order
    stations: list[str]
    closed: Closed
    settled: list[Settled]  # owners, then stations, in index order
    dust: int
    budgets: list[int]  # C_m as each Proposed event logged it

    @property
    def winner(self) -> int | None:
        return self.closed.winner_index

    @property
    def participants(self) -> list[str]:
        return self.owners + self.stations


@dataclass(frozen=True)
class Report:
    """The winner's training report."""

    model_hash: bytes
    accuracy_bps: int
    contributions: list[int]
    model_uri: str = ""


@dataclass(frozen=True)
class Finish:
    """What the contract logged from the report to the last withdrawal."""

    finalized: Finalized | None  # None when the round ended at close (no winner, or cancelled)
    votes: list[tuple[int, bool]] = field(default_factory=list)  # (owner index, punish)
    withdrawn: list[int] = field(default_factory=list)  # owners, then stations
    bonds: dict[int, int] = field(default_factory=dict)  # proposal index -> bond withdrawn
    bonuses: list[int] = field(default_factory=list)  # stations' credited bonuses (a bonus deployment),
    # also in ``withdrawn``

    @property
    def slashed(self) -> bool:
        return self.finalized is not None and self.finalized.slashed


SETTLE_MODES = ("deployer", "self", "self-and-withdraw")
"""Who sends the settlements: the deployer for everyone, each participant its own, or each
participant its own ``settle_and_withdraw`` (settled and paid in one transaction)."""


def run_auction(
    d: Deployment,
    plan: RoundPlan,
    *,
    settle: str | Sequence[str] = "deployer",
    on_step: Callable[[str], None] = lambda _msg: None,
) -> Auction:
    """Fund and register every participant, post the proposals, commit, reveal, close and
    settle everyone (``settle``: one of ``SETTLE_MODES``, or one per participant, owners
    first)."""
    n = len(plan.owners) + len(plan.stations)
    modes = [settle] * n if isinstance(settle, str) else list(settle)
    if len(modes) != n or any(m not in SETTLE_MODES for m in modes):
        raise ValueError(f"settle: expected one of {', '.join(SETTLE_MODES)}, or one per participant")
    if not plan.owners or not plan.stations or not plan.proposals:
        raise ValueError("plan: a round needs at least one owner, one station and one proposal")
    bonds = [0] * len(plan.owners)
    for p in plan.proposals:
        bonds[p.owner] += p.bond
    people = d.new_accounts([b.deposit + bond + GAS_MONEY for b, bond in zip(plan.owners, bonds)]
                            + [b.deposit + GAS_MONEY for b in plan.stations])
    owners, stations = people[:len(plan.owners)], people[len(plan.owners):]
    on_step("registering participants with their deposits")
    for i, (a, b) in enumerate(zip(owners, plan.owners)):
        d.register(a, "owner", weight=b.weight, deposit=b.deposit, max_proposals=plan.allowance(i))
    for a, b in zip(stations, plan.stations):
        d.register(a, "station", weight=b.weight, deposit=b.deposit)
    d.next_phase()
    on_step("posting proposals with their bonds")
    for p in plan.proposals:
        d.propose(owners[p.owner], budget=p.budget, bond=p.bond, content_hash=p.content_hash, uri=p.uri,
                  accuracy_bps=p.accuracy_bps, training_rounds=p.training_rounds, label_mask=p.label_mask,
                  param_count=p.param_count)
    d.next_phase()
    on_step("sealed commits")
    for a, b in zip(people, plan.owners + plan.stations):
        d.commit(a, b.claims)
    d.next_phase()
    on_step("reveals, close, settlements")
    for a in people:
        d.reveal(a)
    closed = d.close().first("Closed")
    settled = settle_all(d, people, modes)
    view = d.round(live=False)
    return Auction(owners, stations, closed, settled, view.dust or 0, view.budgets)


def settle_all(d: Deployment, people: Sequence[str], modes: Sequence[str]) -> list[Settled]:
    """Every participant's settlement (each by its mode, see ``SETTLE_MODES``), in the
    order of ``people``. On a JSON-RPC node they are all sent before any is waited for, as
    independent participants send them, so several land in one block."""
    calls = [d.settle_call(who, sender=None if mode == "deployer" else who, pay=mode == "self-and-withdraw")
             for who, mode in zip(people, modes, strict=True)]
    if not isinstance(d.chain, RpcChain):
        return [d.transact(*c).first("Settled") for c in calls]
    pending = [d.submit(*c) for c in calls]
    return [d.wait(p).first("Settled") for p in pending]


def finish_round(
    d: Deployment,
    auction: Auction,
    plan: RoundPlan,
    *,
    report: Report | None = None,
    punish: Callable[[int], bool] = lambda _owner: False,
    withdraw: bool = True,
) -> Finish:
    """From close to the end: the winner's ``report`` (none: the Train phase runs out and
    the bond is slashed), every other owner's vote (``punish(owner index)``), finalize,
    every station's bonus credit (a deployment with a bonus) and (with ``withdraw``) every
    payout, bonus and released bond. A round without a winner is already finalized at
    close and goes straight to the withdrawals."""
    votes: list[tuple[int, bool]] = []
    finalized: Finalized | None = None
    w = auction.winner
    if d.phase() != "Finalized" and w is not None:
        if report is not None:
            d.report_training(report.model_hash, report.accuracy_bps, report.contributions, report.model_uri)
        while d.phase() == "Train":
            d.next_phase()
        if d.phase() == "Vote":
            proposer = plan.proposals[w].owner
            for i, a in enumerate(auction.owners):
                if i != proposer:
                    choice = bool(punish(i))
                    d.vote(a, choice)
                    votes.append((i, choice))
            finalized = d.finalize().first("Finalized")
    while d.phase() != "Finalized":
        d.next_phase()
    if finalized is None:
        finalized = d.round(live=False).finalized if w is not None else None
    before = {a for a in auction.participants if d.participant(a).withdrawn}
    bonuses = [d.credit_bonus(a) for a in auction.stations] if plan.bonus_bps else []
    if not withdraw:
        return Finish(finalized, votes, bonuses=bonuses)
    # a credit adds the bonus to the payout and reopens a withdrawn one, so withdraw pays it
    withdrawn = [(auction.settled[k].payout if a in before else 0) + (0 if d.participant(a).withdrawn else d.withdraw(a))
                 for k, a in enumerate(auction.participants)]
    bonds = {m: d.withdraw_bond(auction.owners[p.owner], m)
             for m, p in enumerate(plan.proposals) if d.proposal(m).bond_released}
    return Finish(finalized, votes, withdrawn, bonds, bonuses)
