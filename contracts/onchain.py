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

from mechanism import cost_shares
from mechanism.validate import BUDGET_POLICIES, RULES, check_choice, check_profile

from contracts.driver import Deployment

CONTRACT_RULES = ("clarke",)
"""Rules the contract implements (``paper`` is the reference's comparison rule only)."""


@dataclass(frozen=True)
class ChainOutcome:
    """``mechanism.Outcome``'s SPEC fields, read back from the chain, plus gas and context."""

    winner: int | None
    welfare: list[int]
    owner_tax: list[int]
    station_tax: list[int]
    owner_pays: list[int]
    station_receives: list[int]
    surplus: int
    gas: dict[str, list[int]] = field(default_factory=dict)
    owner_share: list[int] = field(default_factory=list)
    station_share: list[int] = field(default_factory=list)
    dust: int = 0
    address: str = ""
    rule: str = "clarke"
    budget_policy: str = "budget"


def settle_on_chain(
    budgets: Sequence[int],
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    owner_values: Sequence[Sequence[int]],
    station_costs: Sequence[Sequence[int]],
    rule: str = "clarke",
    budget_policy: str = "budget",
    rpc: str | None = None,
) -> ChainOutcome:
    """Run one round on the contract and read the outcome back (SPEC section 6).

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
    if len(bud) > 32:
        raise ValueError(f"budgets: the contract takes at most 32 proposals, got {len(bud)}")

    d = Deployment.deploy(rpc)
    # deposits: the section 5 bound (sizing the input only; the outcome is read from chain)
    shares = [cost_shares(C, ow) for C in bud]
    owner_dep = [max(values[i]) + max(s[i] for s in shares) or 1 for i in range(len(ow))]
    station_dep = [max(max(row), 1) for row in costs]
    gas_money = 10**17
    owners = [d.new_account(dep + gas_money) for dep in owner_dep]
    stations = [d.new_account(dep + gas_money) for dep in station_dep]
    for a, w, dep in zip(owners, ow, owner_dep):
        d.register(a, "owner", weight=w, deposit=dep)
    for a, u, dep in zip(stations, sw, station_dep):
        d.register(a, "station", weight=u, deposit=dep)
    d.next_phase()
    for m, C in enumerate(bud):
        d.propose(owners[m % len(owners)], budget=C, bond=1, content_hash=m.to_bytes(32, "big"))
    d.next_phase()
    for a, row in zip(owners, values):
        d.commit(a, row)
    for a, row in zip(stations, costs):
        d.commit(a, row)
    d.next_phase()
    for a in owners + stations:
        d.reveal(a)
    close = d.close()
    closed = next(e.args for e in close.events if e.name == "Closed")
    settled = {}
    for a in owners + stations:
        settled[a] = d.settle(a)
    swept = d.events("DustSwept")
    dust = int(swept[-1].args["dust"]) if swept else 0
    return outcome_from_events(
        closed, [settled[a] for a in owners], [settled[a] for a in stations], dust,
        gas={k: list(v) for k, v in d.gas.items()}, address=d.address, rule=rule, budget_policy=budget_policy,
    )


def outcome_from_events(
    closed: dict[str, Any],
    owners_settled: Sequence[dict[str, Any]],
    stations_settled: Sequence[dict[str, Any]],
    dust: int,
    **context: Any,
) -> ChainOutcome:
    """The outcome as the contract logged it: ``Closed``'s and each ``Settled`` event's arguments
    (owners, then stations, in index order) and ``DustSwept``'s dust; ``context`` fills
    ``gas``, ``address``, ``rule`` and ``budget_policy``."""
    share = [int(s["share"]) for s in owners_settled], [int(s["share"]) for s in stations_settled]
    tax = [int(s["tax"]) for s in owners_settled], [int(s["tax"]) for s in stations_settled]
    return ChainOutcome(
        winner=int(closed["winner"]) if closed["has_winner"] else None,
        welfare=[int(s) for s in closed["welfare"]],
        owner_tax=tax[0],
        station_tax=tax[1],
        owner_pays=[c + t for c, t in zip(share[0], tax[0])],
        station_receives=[r - t for r, t in zip(share[1], tax[1])],
        surplus=sum(tax[0]) + sum(tax[1]) + dust,
        owner_share=share[0],
        station_share=share[1],
        dust=dust,
        **context,
    )
