"""What an agent claims (SPEC sections 2 and 5 step 4): its valuation of every proposal, cut to
what its deposit covers, on ``mechanism``'s own shares.

A reveal whose claims exceed the deposit's bound is refused by the contract, and the claims
are sealed before anyone reveals, so the agent cuts them first: a station's bound is its
deposit less what the deposit keeps for the bonus part of its share
(``mechanism.station_bonus_hold``, 0 without a bonus); an owner's is its deposit less its
largest cost share of any proposal (``mechanism.cost_shares`` of the budget less the round's
recycled subsidy, ``mechanism.owner_budget``: the shares and rounding the contract uses).
Every round is valued afresh: its documents, its members' weights and its subsidy. A proposal whose document cannot be read is worth nothing to an owner and costs a
station its whole bound (it will not train what it cannot read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.round_view import RoundView
from mechanism import cost_shares, owner_budget, station_bonus_hold

Valuation = Callable[[Any, Sequence[Any], Sequence[Path]], list[int]]
"""``(config, documents, their files) -> one claim per document``: an agent's valuation
(``hcfl_cli.agent_config.claims_for`` by default; a test passes three lines of its own)."""


def bonus_hold(view: RoundView, me: Any, bonus_bps: int) -> int:
    """What station ``me``'s deposit keeps for the bonus part of its share (SPEC section 9)."""
    if not bonus_bps:
        return 0
    total = sum(s.weight for s in view.stations)
    return int(station_bonus_hold(max(view.budgets, default=0), bonus_bps, me.weight, total))


def claim_limit(view: RoundView, me: Any, role: str, bonus_bps: int = 0) -> int:
    """The highest claim ``me``'s deposit covers (``me``: its stored record, ``amount`` the deposit)."""
    if role == "station":
        return max(0, me.amount - bonus_hold(view, me, bonus_bps))
    return max(0, me.amount - max(owner_shares(view, me.index), default=0))


def owner_shares(view: RoundView, index: int, subsidy: int | None = None) -> list[int]:
    """Owner ``index``'s cost share of every proposal of round ``view``, with the round's
    recycled subsidy taken off each budget first (``subsidy``: another amount, e.g. 0 to
    compare)."""
    weights = [o.weight for o in view.owners]
    s = view.subsidy if subsidy is None else subsidy
    return [int(cost_shares(owner_budget(budget, s), weights)[index]) for budget in view.budgets]


@dataclass(frozen=True)
class Bid:
    """The claims an agent commits, one per proposal in proposal-index order."""

    valued: tuple[int, ...]  # what its valuation says (unreadable documents at their default)
    claims: tuple[int, ...]  # cut to what the deposit covers
    limit: int
    unreadable: tuple[int, ...] = ()

    @property
    def cut(self) -> bool:
        return self.claims != self.valued


def bid(cfg: Any, view: RoundView, docs: Sequence[Any | None], paths: Sequence[Path | None], *,
        value: Valuation, bonus_bps: int = 0) -> Bid:
    """The claims of the agent of ``cfg`` in round ``view`` (read live, with ``me``): ``docs``
    and their ``paths`` by proposal index, None where the document could not be read."""
    assert view.me is not None
    readable = [i for i, d in enumerate(docs) if d is not None]
    values = value(cfg, [docs[i] for i in readable], [paths[i] for i in readable])
    limit = claim_limit(view, view.me, cfg.role, bonus_bps)
    valued = [0] * len(docs)
    for i, c in zip(readable, values):
        valued[i] = int(c)
    unreadable = tuple(i for i, d in enumerate(docs) if d is None)
    if cfg.role == "station":
        for i in unreadable:
            valued[i] = limit  # a job it cannot read: its highest cost, so it is not chosen for it
    return Bid(tuple(valued), tuple(min(c, limit) for c in valued), limit, unreadable)
