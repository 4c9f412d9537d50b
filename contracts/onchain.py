"""``settle_on_chain``: one whole round of SPEC section 5 on a chain, read back (SPEC section 6).

It takes ``mechanism.settle``'s keyword arguments, deploys the contract, funds and registers
one account per participant (owner deposit ``max_m b + max_m c``, the bound of section 5;
station deposit ``max(max_m k, 1)``), posts the proposals (proposal ``m`` by owner
``m mod nO``), commits, reveals, closes and settles everyone, and returns the outcome read
from the contract's events (``Closed``, ``Settled``, ``DustSwept``): never recomputed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mechanism import BPS, Outcome, transfers
from mechanism.validate import BUDGET_POLICIES, RULES, check_choice, check_int, check_profile, check_vector

from contracts.auction import Report, RoundPlan, finish_round, run_auction
from contracts.constants import MAX_M
from contracts.records import Closed, Settled

CONTRACT_RULES = ("clarke",)
"""Rules the contract implements (``paper`` is the reference's comparison rule only)."""


@dataclass(frozen=True)
class ChainOutcome(Outcome):
    """``mechanism.Outcome``, every field read back from the chain's events (the budgets
    from ``Proposed``), plus the gas of every call and the contract's address."""

    gas: dict[str, list[int]] = field(default_factory=dict)
    address: str = ""


def settle_on_chain(
    budgets: Sequence[int],
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    owner_values: Sequence[Sequence[int]],
    station_costs: Sequence[Sequence[int]],
    rule: str = "clarke",
    budget_policy: str = "budget",
    rpc: str | None = None,
    *,
    bonus_bps: int = 0,
    contributions: Sequence[int] | None = None,
) -> ChainOutcome:
    """Run one round on the contract and read the outcome back (SPEC section 6).

    With ``bonus_bps > 0`` (SPEC section 9) the deployment takes that bonus fraction, the
    winner reports ``contributions`` (``None``: it never reports, so the bonus goes by
    weight), the round is finalized and every station's bonus credited; the stations'
    ``station_receives`` are then the ``Settled`` payouts' shares plus the
    ``BonusCredited`` bonuses, less the taxes.

    Raises:
        ValueError: naming the field, for the inputs ``mechanism.settle`` rejects, and for
            a rule or budget policy that the contract does not implement (only
            ``clarke`` with ``budget``: shares must be fixed before any claim).
    """
    rule = check_choice("rule", rule, RULES)
    budget_policy = check_choice("budget_policy", budget_policy, BUDGET_POLICIES)
    if rule not in CONTRACT_RULES:
        raise ValueError(f"rule: the contract implements only {', '.join(CONTRACT_RULES)}, got {rule!r}")
    if budget_policy != "budget":
        raise ValueError(f"budget_policy: the contract implements only 'budget', got {budget_policy!r}")
    bud, ow, sw, values, costs = check_profile(budgets, owner_weights, station_weights, owner_values, station_costs)
    assert bud is not None  # check_profile requires budgets unless told otherwise
    if len(bud) > MAX_M:
        raise ValueError(f"budgets: the contract takes at most {MAX_M} proposals, got {len(bud)}")

    check_int("bonus_bps", bonus_bps, minimum=0, maximum=BPS)
    if contributions is not None:
        contributions = check_vector("contributions", contributions, minimum=0, length=len(sw))

    plan = RoundPlan.from_profile(bud, ow, sw, values, costs, bonus_bps=bonus_bps)
    d = plan.deploy(rpc)
    auction = run_auction(d, plan)
    bonuses: list[int] | None = None
    pool_b = 0
    if bonus_bps:
        report = None if contributions is None else Report(b"\x01" * 32, 0, list(contributions))
        bonuses = finish_round(d, auction, plan, report=report, withdraw=False).bonuses
        pool_b = d.views.bonus_pool(d.round_id)
    return outcome_from_events(
        auction.closed, auction.settled[: len(ow)], auction.settled[len(ow):], auction.dust, auction.budgets,
        bonuses=bonuses, bonus_pool_wei=pool_b, bonus_bps=bonus_bps, gas={k: list(v) for k, v in d.gas.items()}, address=d.address, rule=rule,
        budget_policy=budget_policy,
    )


def outcome_from_events(
    closed: Closed,
    owners_settled: Sequence[Settled],
    stations_settled: Sequence[Settled],
    dust: int,
    budgets: Sequence[int],
    bonuses: Sequence[int] | None = None,
    bonus_pool_wei: int = 0,
    **context: Any,
) -> ChainOutcome:
    """The outcome as the contract logged it: the ``Closed`` record, each ``Settled`` record
    (owners, then stations, in index order), ``DustSwept``'s dust and the proposals'
    budgets (``Proposed``); ``context`` fills ``gas``, ``address``, ``rule`` and
    ``budget_policy``.

    ``bonuses`` (SPEC section 9, a deployment with a bonus): every station's
    ``BonusCredited`` bonus, and ``bonus_pool_wei`` the round's ``bonus_pool``. A station's
    ``Settled`` share (and ``station_share`` here) is then its weight part; what it is paid
    is that plus its bonus, and the dust counts what rounding left of the bonus pool too
    (``bonus_pool - sum of the bonuses``, swept by the last credit).
    """
    oshare, sshare = [s.share for s in owners_settled], [s.share for s in stations_settled]
    otax, stax = [s.tax for s in owners_settled], [s.tax for s in stations_settled]
    extra: dict[str, Any] = {}
    if bonuses is not None:
        dust += bonus_pool_wei - sum(bonuses)
        extra = dict(bonus_pool=bonus_pool_wei, station_weight_part=list(sshare), station_bonus=list(bonuses))
        paid = [w + b for w, b in zip(sshare, bonuses, strict=True)]
    else:
        paid = sshare
    owner_pays, station_receives, surplus = transfers(oshare, otax, paid, stax, dust)
    return ChainOutcome(
        winner=closed.winner_index,
        welfare=list(closed.welfare),
        owner_tax=otax,
        station_tax=stax,
        owner_pays=owner_pays,
        station_receives=station_receives,
        surplus=surplus,
        budgets=list(budgets),
        owner_share=oshare,
        station_share=sshare,
        dust=dust,
        **extra,
        **context,
    )
