"""The reference settlement: ``settle(...) -> Outcome`` (SPEC sections 2, 3 and 6).

This is the exact, integer-only function that the contract, the z3 encoding and the
experiments are all checked against. It validates its input, fixes the shares from the
registered weights, picks the welfare-maximizing proposal and charges every participant
its Clarke tax, in O(N*M).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mechanism.clarke import choose, clarke_tax, others_welfare
from mechanism.ops import INT, Ops
from mechanism.shares import (BPS, bonus_pool, bonus_shares, cost_shares, effective_budgets, net_values, owner_budget,
                              reward_shares, subsidy_used, weight_parts)
from mechanism.validate import BUDGET_POLICIES, RULES, check_choice, check_int, check_profile, check_vector


@dataclass(frozen=True)
class Outcome:
    """Result of one settlement; every amount is an exact integer (wei, or any one unit).

    The first seven fields are SPEC section 6's interface; the rest say how they were reached.
    """

    winner: int | None
    welfare: list[int]  # S(m) per proposal
    owner_tax: list[int]
    station_tax: list[int]
    owner_pays: list[int]  # c[i][x*] + tax_i
    station_receives: list[int]  # r[j][x*] - tax_j (with a bonus: weight part + bonus - tax_j), may be negative
    surplus: int  # sum of taxes + dust of the winner (with a subsidy, the pool also paid it in)
    budgets: list[int]  # C_m actually used (differs from the input under midpoint/uniform)
    owner_share: list[int]  # c[i][x*], 0 at none
    station_share: list[int]  # r[j][x*], 0 at none
    dust: int  # D_{x*}, 0 at none
    rule: str = "clarke"
    budget_policy: str = "budget"
    bonus_bps: int = 0  # SPEC section 9's beta, in basis points
    bonus_pool: int = 0  # B = floor(C_x* * bonus_bps / 10000), 0 at none
    station_weight_part: list[int] | None = None  # floor((C_x* - B) * u_j / U); None: station_share
    station_bonus: list[int] | None = None  # floor(B * c_j / sum c) (by weight if sum c == 0); None: zeros
    no_show_stations: tuple[int, ...] = ()  # stations that never revealed (see ``settle``)

    @property
    def station_paid(self) -> list[int]:
        """What each station is paid before its tax: its weight part plus its bonus (its
        nominal share ``r[j][x*]`` without a bonus)."""
        weight = self.station_share if self.station_weight_part is None else self.station_weight_part
        bonus = self.station_bonus or [0] * len(weight)
        return [w + b for w, b in zip(weight, bonus, strict=True)]

    @property
    def owner_pivotal(self) -> list[bool]:
        return [t > 0 for t in self.owner_tax]

    @property
    def station_pivotal(self) -> list[bool]:
        return [t > 0 for t in self.station_tax]

    @property
    def paid_in(self) -> int:
        """What owners pay plus what stations pay (negative receipts)."""
        return sum(self.owner_pays) + sum(-r for r in self.station_receives if r < 0)

    @property
    def paid_out(self) -> int:
        """What stations receive (positive receipts only)."""
        return sum(r for r in self.station_receives if r > 0)


def settle(
    budgets: Sequence[int] | None,
    owner_weights: Sequence[int],
    station_weights: Sequence[int],
    owner_values: Sequence[Sequence[int]],
    station_costs: Sequence[Sequence[int]],
    rule: str = "clarke",
    budget_policy: str = "budget",
    seed: int | None = None,
    *,
    subsidy: int = 0,
    bonus_bps: int = 0,
    contributions: Sequence[int] | None = None,
    no_show_stations: Sequence[int] = (),
) -> Outcome:
    """Settle one round of the crowdfunding auction (SPEC section 3).

    Args:
        budgets: ``C_m`` per proposal (wei); may be ``None`` under ``midpoint``/``uniform``.
        owner_weights: registered weight ``w_i >= 1`` of every owner.
        station_weights: registered weight ``u_j >= 1`` of every station.
        owner_values: ``b[i][m] >= 0``, one row per owner, one claim per proposal.
        station_costs: ``k[j][m] >= 0``, one row per station, one claim per proposal.
        rule: ``"clarke"`` (default, truthful) or ``"paper"`` (the paper's one-sided tax).
        budget_policy: ``"budget"`` (default), ``"midpoint"`` or ``"uniform"`` (needs ``seed``).
        seed: seed of the ``uniform`` draw.
        subsidy: recycled tax announced before registration closed (SPEC section 5 step 8):
            owners' cost shares of proposal ``m`` are taken of ``C_m - min(subsidy, C_m)``
            while stations still share ``C_m``; the pool pays the difference. It is fixed
            before any claim, so truthfulness is untouched. Default 0 (no recycling).
        bonus_bps: SPEC section 9's bonus fraction ``beta`` in basis points (0..10000,
            default 0). The winner's budget ``C`` is paid to the stations in two parts: a
            weight part ``floor((C - B) * u_j / U)`` and a bonus ``floor(B * c_j / sum c)``,
            ``B = floor(C * bonus_bps / 10000)``. The choice, the taxes and the owners'
            payments use the nominal shares ``r`` unchanged; the rounding goes to the pool.
        contributions: the winner's reported contribution of every station (>= 0); ``None``
            (no report) or all zeros: the bonus is split by registered weight.
        no_show_stations: the indices of the stations that registered but never revealed
            (their ``station_costs`` rows must be all zeros: SPEC section 5 step 4 counts
            them as claiming zeros). Such a station is charged at most its weight part as
            tax (``station_tax`` is then ``min(Clarke tax, weight part)``), so that it never
            owes more than it is paid, whatever its deposit, and it takes no bonus (its
            slice of the pool stays with the contract). Without a bonus the cap never binds:
            a station claiming zeros is taxed at most its share.

    Raises:
        ValueError: naming the field, for any input SPEC section 6 calls bad.
    """
    rule = check_choice("rule", rule, RULES)
    budget_policy = check_choice("budget_policy", budget_policy, BUDGET_POLICIES)
    bud, ow, sw, values, costs = check_profile(
        budgets, owner_weights, station_weights, owner_values, station_costs,
        budgets_required=budget_policy == "budget",
    )
    if budget_policy == "uniform":
        if seed is None:
            raise ValueError("seed: budget_policy 'uniform' needs a seed")
        check_int("seed", seed, minimum=0, maximum=2**256)
    check_int("subsidy", subsidy, minimum=0)
    check_int("bonus_bps", bonus_bps, minimum=0, maximum=BPS)
    contrib = None if contributions is None else check_vector("contributions", contributions, minimum=0, length=len(sw))
    silent = check_no_shows(no_show_stations, costs)
    return settle_checked(bud, ow, sw, values, costs, rule, budget_policy, seed, subsidy, bonus_bps, contrib, silent)


def settle_checked(
    budgets: list[int] | None,
    ow: list[int],
    sw: list[int],
    values: list[list[int]],
    costs: list[list[int]],
    rule: str,
    budget_policy: str,
    seed: int | None,
    subsidy: int = 0,
    bonus_bps: int = 0,
    contributions: Sequence[int] | None = None,
    no_show_stations: Sequence[int] = (),
) -> Outcome:
    """``settle`` without the input checks (for callers that validated already)."""
    n_props = len(values[0])
    cb = effective_budgets(budget_policy, budgets, values, costs, n_props, seed)
    silent = set(no_show_stations)
    no_show = [j in silent for j in range(len(sw))] if silent else None
    core = settle_core(cb, ow, sw, values, costs, rule, subsidy, bonus_bps=bonus_bps, contributions=contributions,
                       no_show=no_show)
    return Outcome(
        winner=core.winner,
        welfare=core.welfare,
        owner_tax=core.owner_tax,
        station_tax=core.station_tax,
        owner_pays=core.owner_pays,
        station_receives=core.station_receives,
        surplus=core.surplus,
        budgets=cb,
        owner_share=core.owner_share,
        station_share=core.station_share,
        dust=core.dust,
        rule=rule,
        budget_policy=budget_policy,
        bonus_bps=bonus_bps,
        # without a bonus the outcome is exactly SPEC section 3's (and settle_fast's)
        bonus_pool=core.bonus_pool,
        station_weight_part=list(core.station_weight_part) if bonus_bps else None,
        station_bonus=list(core.station_bonus) if bonus_bps else None,
        no_show_stations=tuple(sorted(silent)),
    )


@dataclass(frozen=True)
class Settlement:
    """What :func:`settle_core` computes, as ints (``settle``) or z3 terms (the proofs).

    ``pool_pays`` is the recycled subsidy the pool puts into the winner's budget
    (``min(subsidy, C_x*)``, 0 at none): the one flow of money that is not a participant's.
    """

    winner: Any
    welfare: list[Any]
    cost_shares: list[list[Any]]  # c[m][i], after the subsidy
    reward_shares: list[list[Any]]  # r[m][j]
    owner_tax: list[Any]
    station_tax: list[Any]
    owner_share: list[Any]  # c[x*][i], 0 at none
    station_share: list[Any]  # r[x*][j], 0 at none
    pool_pays: Any
    owner_pays: list[Any]
    station_receives: list[Any]
    dust: Any
    surplus: Any
    bonus_pool: Any = 0  # B at the outcome
    station_weight_part: list[Any] = field(default_factory=list)
    station_bonus: list[Any] = field(default_factory=list)


def settle_core(
    budgets: Sequence[Any],
    ow: Sequence[int],
    sw: Sequence[int],
    values: Sequence[Sequence[Any]],
    costs: Sequence[Sequence[Any]],
    rule: str,
    subsidy: Any = 0,
    ops: Ops = INT,
    *,
    bonus_bps: Any = 0,
    contributions: Sequence[Any] | None = None,
    no_show: Sequence[Any] | None = None,
) -> Settlement:
    """SPEC section 3 from the budgets actually used: shares, choice, taxes, transfers;
    with SPEC section 9's bonus (``bonus_bps``, ``contributions``) the stations' pay.

    ``no_show`` (one flag per station, a bool or a z3 Boolean; ``None``: every station
    revealed): a station that never revealed (its costs are zeros) is charged
    :func:`no_show_tax` and takes no bonus.

    Written once over ``ops`` (:mod:`mechanism.ops`): ``settle`` runs it on ints and the z3
    encoding on symbols, so that the proofs are about this function.
    """
    n_props = len(budgets)
    # shares[m][i]: computed once per proposal from the weights (and the fixed subsidy) alone.
    c_by_m = [cost_shares(owner_budget(C, subsidy, ops), ow, ops) for C in budgets]
    r_by_m = [reward_shares(C, sw, ops) for C in budgets]
    welfare = [ops.total([row[m] for row in values]) - ops.total([row[m] for row in costs]) for m in range(n_props)]
    winner = choose(welfare, ops)

    # per participant: its shares of every proposal, then its net values
    owner_net = [net_values("owner", row, shares) for row, shares in zip(values, zip(*c_by_m), strict=True)]
    station_net = [net_values("station", row, shares) for row, shares in zip(costs, zip(*r_by_m), strict=True)]
    if rule == "clarke":
        owner_total = station_total = welfare
    else:  # "paper": each side's tax counts only the others of its own side
        owner_total = [ops.total([n[m] for n in owner_net]) for m in range(n_props)]
        station_total = [ops.total([n[m] for n in station_net]) for m in range(n_props)]
    owner_tax = [clarke_tax(others_welfare(owner_total, n), winner, ops) for n in owner_net]
    station_tax = [clarke_tax(others_welfare(station_total, n), winner, ops) for n in station_net]

    owner_share = ops.row_at(c_by_m, winner, len(ow))
    station_share = ops.row_at(r_by_m, winner, len(sw))
    pool_pays = ops.at([subsidy_used(C, subsidy, ops) for C in budgets], winner)
    pool_b, weight_part, bonus, station_paid = station_pay(budgets, winner, sw, station_share, bonus_bps, contributions, ops,
                                                           no_show)
    if no_show is not None:
        station_tax = [no_show_tax(silent, t, w, ops) for silent, t, w in zip(no_show, station_tax, weight_part, strict=True)]
    # what owners bring in plus the subsidy the pool pays, minus what stations take: >= 0
    d = ops.total(owner_share) + pool_pays - ops.total(station_paid)
    owner_pays, station_receives, surplus = transfers(owner_share, owner_tax, station_paid, station_tax, d)
    return Settlement(
        winner, welfare, c_by_m, r_by_m, owner_tax, station_tax, owner_share, station_share,
        pool_pays, owner_pays, station_receives, d, surplus, pool_b, weight_part, bonus,
    )


def station_pay(
    budgets: Sequence[Any], winner: Any, sw: Sequence[int], station_share: Sequence[Any], bonus_bps: Any,
    contributions: Sequence[Any] | None, ops: Ops = INT, no_show: Sequence[Any] | None = None,
) -> tuple[Any, list[Any], list[Any], list[Any]]:
    """SPEC section 9: the bonus pool ``B`` of the winner's budget, every station's weight
    part and bonus, and what it is paid before its tax (their sum). The contributions are
    the winner's report (``None``: none came, split by weight). A station that never
    revealed (``no_show``) takes no bonus: its slice stays in the pool's dust.

    Without a bonus (the literal 0) a station is paid its nominal share, as in SPEC
    section 3, and the encoding of the bonus-free mechanism stays as small as it was.
    """
    if isinstance(bonus_bps, int) and bonus_bps == 0:
        return 0, list(station_share), [0] * len(sw), list(station_share)
    budget = ops.at(list(budgets), winner)
    pool_b = bonus_pool(budget, bonus_bps, ops)
    weight_part = weight_parts(budget, pool_b, sw, ops)
    bonus = bonus_shares(pool_b, list(contributions) if contributions is not None else list(sw), sw, ops)
    if no_show is not None:
        bonus = [ops.select(silent, 0, b) for silent, b in zip(no_show, bonus, strict=True)]
    return pool_b, weight_part, bonus, [w + b for w, b in zip(weight_part, bonus, strict=True)]


def no_show_tax(silent: Any, tax: Any, weight_part: Any, ops: Ops = INT) -> Any:
    """The tax charged to a station: its Clarke tax, but at most its weight part when it
    never revealed (``silent``), so that it never owes more than it is paid at settlement,
    whatever its deposit (SPEC section 9). Claiming zeros, its Clarke tax is at most its
    nominal share ``r``, and without a bonus the weight part is ``r``: the cap binds only
    on the bonus part of ``r``, which the contract pays later, by contribution."""
    return ops.select(silent, ops.minimum(tax, weight_part), tax)


def check_no_shows(no_show_stations: object, costs: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """``no_show_stations`` as sorted distinct station indices, each a station whose cost
    row is all zeros (a station that never revealed counts as claiming zeros)."""
    if isinstance(no_show_stations, (str, bytes)) or not isinstance(no_show_stations, Sequence):
        raise ValueError(f"no_show_stations: expected a list of station indices, got {type(no_show_stations).__name__}")
    out = set()
    for j in no_show_stations:
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(costs):
            raise ValueError(f"no_show_stations: {j!r} is not a station index (0..{len(costs) - 1})")
        if any(costs[j]):
            raise ValueError(f"no_show_stations: station {j} never revealed, so its station_costs row must be all zeros")
        out.add(j)
    return tuple(sorted(out))


def owner_payment(share: Any, tax: Any) -> Any:
    """What an owner pays: its cost share at the outcome plus its tax."""
    return share + tax


def station_receipt(share: Any, tax: Any) -> Any:
    """What a station receives: its reward share at the outcome minus its tax (may be < 0)."""
    return share - tax


def transfers(
    owner_share: Sequence[Any], owner_tax: Sequence[Any], station_share: Sequence[Any],
    station_tax: Sequence[Any], dust: Any,
) -> tuple[list[Any], list[Any], Any]:
    """SPEC section 3's transfers from the shares at the outcome and the taxes: what each
    owner pays (``c + tax``), what each station receives (``r - tax``, may be negative) and
    the round's surplus (every tax plus the dust)."""
    owner_pays = [owner_payment(c, t) for c, t in zip(owner_share, owner_tax, strict=True)]
    station_receives = [station_receipt(r, t) for r, t in zip(station_share, station_tax, strict=True)]
    return owner_pays, station_receives, sum(owner_tax) + sum(station_tax) + dust


def participant_utility(side: str, own_at_outcome: Any, transfer: Any) -> Any:
    """Utility from the true value (or cost) at the outcome and the participant's transfer:
    owner ``v(x*) - pays``, station ``receives - kappa(x*)``."""
    if side == "owner":
        return own_at_outcome - transfer
    if side == "station":
        return transfer - own_at_outcome
    raise ValueError(f"side: unknown value {side!r}, expected owner or station")


def utility(outcome: Outcome, side: str, index: int, true_claims: Sequence[int]) -> int:
    """Utility of one participant under its **true** values (SPEC section 3).

    Owner ``i``: ``v[i][x*] - c[i][x*] - tax_i``. Station ``j``: ``r[j][x*] - kappa[j][x*] - tax_j``
    (with a bonus, its weight part plus its bonus in place of ``r[j][x*]``).
    ``true_claims`` is the participant's true value (owner) or true cost (station) per
    proposal; at ``none`` both are 0.
    """
    x = outcome.winner
    own = 0 if x is None else true_claims[x]
    if side == "owner":
        return participant_utility(side, own, outcome.owner_pays[index])
    if side == "station":
        return participant_utility(side, own, outcome.station_receives[index])
    raise ValueError(f"side: unknown value {side!r}, expected owner or station")
