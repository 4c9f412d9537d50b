"""The station bonus of SPEC section 9, proved on the code that pays it.

With a bonus fraction ``beta = bonus_bps / 10000`` the winner's budget ``C`` reaches the
stations as a weight part ``floor((C - B) * u_j / U)`` and a bonus ``floor(B * c_j / T)``
(``B = floor(C * bonus_bps / 10000)``, ``T = sum c``; by weight when ``T = 0``), while the
choice, the taxes and the owners' payments keep the nominal shares ``r_j = floor(C u_j / U)``
(``mechanism.settle.station_pay``). So owners keep exact truthfulness, and a station's
transfer differs from its nominal one by ``delta_j(x) = weight_j(x) + bonus_j(x) - r_j(x)``,
which depends on the outcome but not on its claim.

**The bound.** No lie gains a station more than ``max_m B_m + 1`` wei, where
``B_m = floor(C_m * bonus_bps / 10000) <= beta * C_m``: so at most ``beta * max_m C_m + 1``.
Derivation (each step an obligation below, on the code's own functions):

1. ``delta(x) = bonus(x) - f(x) - e(x)`` with ``f(x) = floor(B(x) u / U)`` (the share rule on
   ``B``) and ``e(x)`` in ``{0, 1}``: the floors of ``(C - B) u / U`` and ``B u / U`` add up to
   that of ``C u / U`` or one less (lemma *split*);
2. ``0 <= bonus(x) <= B(x)`` and ``0 <= f(x) <= B(x)`` (lemmas *bonus in range*, *split*);
3. ``B1 - f1 + f2 <= max(B1, B2)`` for the share rule on any two pools (lemma *pair*:
   ``f2 - f1 <= ceil((B2 - B1) u / U) <= B2 - B1`` when ``B2 > B1``, and ``<= 0`` otherwise);
4. the Clarke part of the utility never gains (the fold invariants of
   ``verification.induction``), so the gain is at most ``delta(x_lie) - delta(x_truth)
   <= bonus_l - f_l + f_t - bonus_t + e_t - e_l <= B_l - f_l + f_t + 1 <= max B + 1``
   (the *step*, at a free ``M``, with the others' welfare ``A = S_-p`` free: every ``N``).

``B(x) <= C(x) * bonus_bps / 10000`` and ``B <= C`` is lemma *pool*. The rounding bound is
the ``+ 1``: one wei from the weight part's floor. A witness that it is nearly reached (a
lie that gains at least ``max B``) is found by z3 on the whole settlement and replayed
through ``mechanism.settle``.

**Solvency with the bonus.** The contract pays a station its weight part at settlement and
its bonus later, so the deposit must cover ``tax - weight(x*)``: SPEC section 5's
``max k`` falls short by up to the bonus part of the nominal share (a station whose bonus
is 0 loses it). ``mechanism.station_bonus_hold`` adds ``ceil(floor(max C beta) u / U)``;
the bounded rows check the settlement against that bound, and budget balance and exact
accounting on the transfers ``settle_core`` returns with the bonus.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import z3

import mechanism
from mechanism.clarke import tax_formula
from mechanism.settle import no_show_tax, participant_utility, station_receipt
from mechanism.shares import bonus_pool, bonus_shares, reward_shares, station_bonus_hold, weight_parts
from verification import encoder as enc
from verification import replay
from verification.checks import MAX_AMOUNT, SMALL_AMOUNT, Bounds, _domain, _read, _run, _Encoded, _single_check
from verification.induction import _at, _combine, _function, _guarded, choice_invariant, max_invariant
from verification.results import FAILS, HOLDS, CheckResult, EncodingError
from verification.solver import Solved, consistency, solve
from verification.z3ops import Z3

LOGIC = "QF_NIA"
"""z3's solver for the bonus rows: ``B * c_j / sum c`` multiplies and divides symbols."""

ROUNDING = 1
"""The rounding part of the bound: what a lie can gain beyond ``max_m B_m`` (wei)."""


def _step(name: str, hyp: list[z3.BoolRef], goal: z3.BoolRef, timeout_s: float, logic: str | None = None) -> dict[str, Solved]:
    return {name: solve(hyp, z3.Not(goal), timeout_s=timeout_s, logic=logic),
            f"{name} hypotheses consistent": consistency(hyp, timeout_s=timeout_s, logic=logic)}


def _max2(a: Any, b: Any) -> Any:
    return z3.If(a >= b, a, b)


def lemmas(timeout_s: float) -> dict[str, Solved]:
    """Lemmas *pool*, *split*, *bonus in range* and *pair* on the code's functions, every
    symbol free (station weight ``u`` among ``U = u + rest``: every number of stations)."""
    C, bps, u, rest, c, crest, B1, B2 = z3.Ints("C bps u rest c crest B1 B2")
    weights = [u, rest]
    dom = [C >= 0, 0 <= bps, bps <= mechanism.BPS, u >= 1, rest >= 0]
    B = bonus_pool(C, bps, Z3)
    nominal = reward_shares(C, weights, Z3)[0]
    weight = weight_parts(C, B, weights, Z3)[0]
    f = reward_shares(B, weights, Z3)[0]
    e = nominal - weight - f
    pool_b = z3.Int("pool")
    bonus = bonus_shares(pool_b, [c, crest], weights, Z3)[0]
    f1, f2 = reward_shares(B1, weights, Z3)[0], reward_shares(B2, weights, Z3)[0]
    nia = "QF_NIA"  # divisions by a symbolic total weight: z3's nonlinear solver
    return {
        **_step("pool: 0 <= B <= C, 10000 B <= bps C", dom, z3.And(B >= 0, B <= C, mechanism.BPS * B <= bps * C), timeout_s, nia),
        **_step("split: r - weight - f >= 0", dom, e >= 0, timeout_s, nia),
        **_step("split: r - weight - f <= 1", dom, e <= 1, timeout_s, nia),
        **_step("split: 0 <= f <= B", dom, z3.And(f >= 0, f <= B), timeout_s, nia),
        **_step("share: 0 <= r", dom, nominal >= 0, timeout_s, nia),
        **_step("bonus in range: 0 <= bonus <= B", [pool_b >= 0, c >= 0, crest >= 0, u >= 1, rest >= 0],
                z3.And(bonus >= 0, bonus <= pool_b), timeout_s, nia),
        **_step("pair, B2 <= B1: f2 <= f1", [B1 >= 0, B2 >= 0, B2 <= B1, u >= 1, rest >= 0], f2 <= f1, timeout_s, nia),
        **_step("pair, B2 > B1: f2 - f1 <= B2 - B1", [B1 >= 0, B2 > B1, u >= 1, rest >= 0], f2 - f1 <= B2 - B1, timeout_s, nia),
        # the two cases give lemma *pair* (linear): B1 - f1 + f2 <= max(B1, B2)
        **_step("pair", [f2 - f1 <= z3.If(B2 <= B1, 0, B2 - B1)], B1 - f1 + f2 <= _max2(B1, B2), timeout_s),
    }


def gain_step(timeout_s: float) -> dict[str, Solved]:
    """The step: at a free ``M``, with the others' welfare ``A`` free (every ``N``), a lie
    gains a station at most ``max_m B_m + ROUNDING``, its transfer being the code's
    ``station_receipt`` of its nominal share plus ``delta = bonus - f - e``. The lie may
    also be never to reveal (``silent``): the station then claims zeros, is paid its weight
    part ``share - f - e`` with no bonus and charged the code's ``no_show_tax``."""
    others, share, true, lie = (_function(n) for n in ("A", "share", "true", "lie"))
    pool_b, bonus, f, e = (_function(n) for n in ("B", "bonus", "f", "e"))
    net = lambda claim, m: enc.net_value("station", claim(m), share(m))  # noqa: E731
    n = z3.Int("M")
    best_t, win_t, best_l, win_l, top, top_b = z3.Ints("best_t win_t best_l win_l top top_B")
    m = z3.Int("m_bonus")
    silent = z3.Bool("silent")

    def claimed(k: enc.Term) -> enc.Term:
        return z3.If(silent, 0, lie(k))

    def delta(w: enc.Term) -> enc.Term:
        return _at(bonus, w) - _at(f, w) - _at(e, w)

    def utility(w: enc.Term) -> enc.Term:
        paid = _at(share, w) + delta(w)
        return participant_utility("station", _at(true, w), station_receipt(paid, tax_formula(top, _at(others, w))))

    def lie_utility(w: enc.Term) -> enc.Term:
        weight = _at(share, w) - _at(f, w) - _at(e, w)
        paid = z3.If(silent, weight, _at(share, w) + delta(w))
        charged = no_show_tax(silent, tax_formula(top, _at(others, w)), weight, Z3)
        return participant_utility("station", _at(true, w), station_receipt(paid, charged))

    facts = z3.ForAll([m], z3.Implies(z3.And(0 <= m, m < n), z3.And(
        0 <= bonus(m), bonus(m) <= pool_b(m), 0 <= f(m), f(m) <= pool_b(m), 0 <= e(m), e(m) <= 1, 0 <= share(m))))
    hyp = [
        n >= 0,
        choice_invariant(lambda k: others(k) + net(true, k), n, best_t, win_t),
        choice_invariant(lambda k: others(k) + net(claimed, k), n, best_l, win_l),
        max_invariant(others, n, top),
        max_invariant(pool_b, n, top_b),
        facts,
        # lemma *pair* at the two outcomes (at none every pool and share is 0)
        _at(pool_b, win_l) - _at(f, win_l) + _at(f, win_t) <= _max2(_at(pool_b, win_l), _at(pool_b, win_t)),
    ]
    return _step("gain <= max B + 1, any M", hyp, lie_utility(win_l) - utility(win_t) <= top_b + ROUNDING, timeout_s)


def check_bound_every_n_m(timeout_s: float = 60.0) -> CheckResult:
    """Row: no lie gains a station more than ``max_m B_m + 1`` (``<= beta max C + 1``), every N and M."""
    answers = {**_guarded(lambda: lemmas(timeout_s), "lemmas"), **_guarded(lambda: gain_step(timeout_s), "step")}
    return _combine("bonus: station gain <= beta*max C + 1", "station",
                    "any N, any M, any weights, budgets, bps and contributions (induction; S_-p free)", answers)


def _station_gain(bounds: Bounds, index: int, fixed: dict[str, Any] | None = None
                  ) -> tuple[enc.SymbolicProfile, enc.SymbolicProfile, enc.Vec, Any, Any, Any]:
    """Two settlements with the bonus that differ only in station ``index``'s row
    (``fixed``: concrete ``bonus_bps`` and ``contributions`` instead of symbols)."""
    n = bounds.n_proposals
    profile = enc.fresh_profile(n, bounds.owner_weights, bounds.station_weights, with_bonus=True)
    if fixed:
        profile = replace(profile, **fixed)
    lie = enc.fresh_vector("lie", n)
    # the lie may also be never to reveal: claims of zeros, settled as SPEC section 9 says
    silent = tuple(z3.Bool("silent") if j == index else z3.BoolVal(False) for j in range(len(bounds.station_weights)))
    lied = replace(profile.with_claims("station", index, lie), no_show=silent)
    truth_row = profile.claims("station")[index]
    out_t, out_l = enc.encode_settle(profile), enc.encode_settle(lied)
    u_t = enc.utility(out_t, "station", index, truth_row)
    u_l = enc.utility(out_l, "station", index, truth_row)
    top_b = Z3.max_of([bonus_pool(C, profile.bonus_bps, Z3) for C in profile.budgets])
    return profile, lied, lie, (out_t, out_l), (u_t, u_l), top_b


def _gain_check(prop: str, bounds: Bounds, slack: int, expected: str, timeout_s: float, index: int = 0,
                fixed: dict[str, Any] | None = None) -> CheckResult:
    """``gain <= max_m B_m + slack`` for station ``index``, on the whole settlement (with a
    negative ``slack``, a pool of at least one wei, so that a model is a lie that gains)."""
    profile, lied, lie, (out_t, out_l), (u_t, u_l), top_b = _station_gain(bounds, index, fixed)
    negated = z3.And(u_l - u_t > top_b + slack, *lied.no_show_domain())
    if slack < 0:  # a witness worth reading: a pool of half the small-amount cap at least
        negated = z3.And(negated, top_b >= SMALL_AMOUNT // 2)

    def decode(model: z3.ModelRef) -> dict[str, Any] | None:
        lie_v = [enc.model_int(model, x) for x in lie]
        w = replay.truthfulness_witness(
            model, profile, lied, out_t, out_l, rule="clarke", policy="budget", side="station", index=index,
            lie=lie_v, utilities=(enc.model_int(model, u_t), enc.model_int(model, u_l)),
        )
        if w is not None:
            p = w["profile"]
            w["max_bonus_pool"] = max(mechanism.bonus_pool(C, p["bonus_bps"]) for C in p["budgets"])
        return w

    encoded = _Encoded(_domain(profile, lie, (out_t, out_l)), negated, decode, (*_read(profile, "budget"), *lie))
    free = "bps<=10000 and contributions free" if not fixed else ", ".join(f"{k}={v}" for k, v in fixed.items())
    free += "; the lie may be never to reveal"
    return _run(prop, "clarke", "budget", "station", bounds, encoded, expected=expected, timeout_s=timeout_s,
                bounds_text=bounds.describe() + f"; {free}", logic=LOGIC if not fixed else None)


def check_bound_direct(bounds: Bounds, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: the bound on the whole settlement (``settle_core`` with the bonus), bounded."""
    return _gain_check("bonus: station gain <= beta*max C + 1", bounds, ROUNDING, HOLDS, timeout_s)


TIGHT_BOUNDS = Bounds(1, (1,), (1, 1000))
"""The tightness witness's profile shape: a small station (weight 1 of 1001) that did all
the work (contributions ``(1, 0)``) under a bonus of 100 %."""


def check_bound_tight(bounds: Bounds = TIGHT_BOUNDS, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: the bound is nearly reached: a replayed lie that gains at least ``max_m B_m``,
    within the rounding wei of the bound (the claim "every gain < max B" is refuted)."""
    fixed = {"bonus_bps": mechanism.BPS, "contributions": (1,) + (0,) * (len(bounds.station_weights) - 1)}
    return _gain_check("bonus: a lie gains >= beta*max C (tight)", bounds, -1, FAILS, timeout_s, fixed=fixed)


def check_owners_unchanged(bounds: Bounds, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: the bonus moves neither the choice nor any tax nor any owner's payment (so every
    owner proof carries over), on the whole settlement with and without it."""
    profile = enc.fresh_profile(bounds.n_proposals, bounds.owner_weights, bounds.station_weights, with_bonus=True,
                                with_subsidy=True)
    with_b = enc.encode_settle(profile)
    plain = enc.encode_settle(enc.SymbolicProfile(profile.budgets, profile.owner_weights, profile.station_weights,
                                                  profile.owner_values, profile.station_costs, profile.subsidy))
    moved = [with_b.winner != plain.winner,
             *[a != b for a, b in zip(with_b.owner_pays, plain.owner_pays)],
             *[a != b for a, b in zip(with_b.owner_tax + with_b.station_tax, plain.owner_tax + plain.station_tax)]]
    answer = solve(_domain(profile, [], [with_b, plain])(MAX_AMOUNT), z3.Or(moved), timeout_s=timeout_s)
    return _combine("bonus: choice, taxes and owner payments unchanged", "owner",
                    bounds.describe() + "; subsidy, bps and contributions free", {"unchanged": answer})


NO_SHOW_RULES = {
    "capped": "a station that never revealed is charged at most its weight part and takes no bonus",
    "as zeros": "a station that never revealed is settled as one that revealed zeros (the contract before issue 23)",
}
"""How a settlement treats a station that never revealed: the code's rule (``capped``,
``mechanism.settle``'s ``no_show_stations``) and the earlier contract's (``as zeros``)."""


def check_solvency_with_bonus(bounds: Bounds, *, no_show_rule: str = "capped", timeout_s: float = 60.0) -> CheckResult:
    """Row: with the bonus, nobody owes at settlement more than its deposit, whether it
    revealed or not (SPEC section 4's solvency, section 9's "settleable whatever its deposit").

    Every participant has a free Boolean: revealed or not. One that revealed deposited at
    least its reveal bound (owner ``max b + max c``, station ``max k +
    mechanism.station_bonus_hold``); one that did not claims zeros and deposited only what
    registration asks of it: an owner ``w * d`` (``d`` the deposit per weight, every budget
    at most ``W * d``), a station any amount of at least 1 wei. An owner owes its payment; a
    station owes its tax less its weight part (its bonus comes later). Under ``no_show_rule``
    ``as zeros`` (the earlier contract's) a station that never revealed is refuted; under
    ``capped`` (the code's rule) the row is proved.
    """
    if no_show_rule not in NO_SHOW_RULES:
        raise ValueError(f"no_show_rule: unknown value {no_show_rule!r}, expected one of {', '.join(NO_SHOW_RULES)}")
    ow, sw = bounds.owner_weights, bounds.station_weights
    profile = enc.fresh_profile(bounds.n_proposals, ow, sw, with_bonus=True)
    owner_in = tuple(z3.Bool(f"revealed_owner_{i}") for i in range(len(ow)))
    station_in = tuple(z3.Bool(f"revealed_station_{j}") for j in range(len(sw)))
    silent = tuple(z3.Not(x) for x in station_in)
    if no_show_rule == "capped":
        profile = replace(profile, no_show=silent)
    out = enc.encode_settle(profile)
    dpw = z3.Int("deposit_per_weight")
    owner_dep, station_dep = enc.fresh_vector("owner_deposit", len(ow)), enc.fresh_vector("station_deposit", len(sw))
    top_c = Z3.max_of(list(profile.budgets))
    facts = [dpw >= 1, *[c <= sum(ow) * dpw for c in profile.budgets]]
    for i, (row, crow) in enumerate(zip(profile.owner_values, out.cost_shares)):
        facts += [z3.Implies(z3.Not(owner_in[i]), z3.And(*[b == 0 for b in row])), owner_dep[i] >= ow[i] * dpw,
                  z3.Implies(owner_in[i], owner_dep[i] >= mechanism.owner_deposit_bound(row, crow, Z3.max_of))]
    for j, (row, u) in enumerate(zip(profile.station_costs, sw)):
        bound = mechanism.station_deposit_bound(row, Z3.max_of, station_bonus_hold(top_c, profile.bonus_bps, u, sum(sw), Z3))
        facts += [z3.Implies(silent[j], z3.And(*[k == 0 for k in row])), station_dep[j] >= 1,
                  z3.Implies(station_in[j], station_dep[j] >= bound)]
    negated = z3.Or(*[p > d for p, d in zip(out.owner_pays, owner_dep)],
                    *[t - w > d for t, w, d in zip(out.station_tax, out.station_weight_part, station_dep)])
    base = _domain(profile, [dpw], [out])

    def decode(model: z3.ModelRef) -> dict[str, Any] | None:
        kwargs = replay.profile_kwargs(model, profile, "clarke", "budget")
        settled = mechanism.settle(**kwargs)
        replay.confirm_outcome(model, out, settled, "counterexample")
        never = {"owners": [i for i, x in enumerate(owner_in) if not z3.is_true(model.eval(x, model_completion=True))],
                 "stations": [j for j, x in enumerate(station_in) if not z3.is_true(model.eval(x, model_completion=True))]}
        deposits = {"owners": [enc.model_int(model, x) for x in owner_dep],
                    "stations": [enc.model_int(model, x) for x in station_dep]}
        details = _insolvent(settled, deposits)
        if details is None:
            raise EncodingError(f"counterexample: mechanism.settle is solvent on {kwargs} with deposits {deposits}")
        return {"profile": kwargs, "rule": "clarke", "budget_policy": "budget", "no_show_rule": no_show_rule,
                "never_revealed": never, "deposits": deposits, "deposit_per_weight": enc.model_int(model, dpw), **details}

    encoded = _Encoded(lambda cap: [*base(cap), *facts], negated, decode, (*_read(profile, "budget"), dpw))
    return _run(f"bonus: solvency, no-shows {no_show_rule}", "clarke", "budget", "all", bounds, encoded,
                expected=HOLDS if no_show_rule == "capped" else FAILS, timeout_s=timeout_s,
                bounds_text=bounds.describe() + "; bps<=10000, contributions, deposits and who revealed free", logic=LOGIC)


def _insolvent(o: mechanism.Outcome, deposits: dict[str, list[int]]) -> dict[str, Any] | None:
    """The first participant of ``o`` that owes more than its deposit at settlement: an owner
    its payment, a station its tax less its weight part; ``None`` when nobody does."""
    for i, (owes, dep) in enumerate(zip(o.owner_pays, deposits["owners"])):
        if owes > dep:
            return {"side": "owner", "index": i, "owes": owes, "deposit": dep}
    weight = o.station_weight_part or o.station_share
    for j, (t, w, dep) in enumerate(zip(o.station_tax, weight, deposits["stations"])):
        if t - w > dep:
            return {"side": "station", "index": j, "owes": t - w, "deposit": dep}
    return None


def _bonus_single(prop: str, bounds: Bounds, negated: Any, violated: Any, timeout_s: float) -> CheckResult:
    from verification.checks import _decoder, _single

    profile, out = _single(bounds, "clarke", "budget", with_bonus=True)
    encoded = _Encoded(_domain(profile, [], [out]), negated(profile, out), _decoder(profile, out, "clarke", "budget", violated),
                       _read(profile, "budget"))
    return _run(prop, "clarke", "budget", "all", bounds, encoded, expected=HOLDS, timeout_s=timeout_s,
                bounds_text=bounds.describe() + "; bps<=10000 and contributions free", logic=LOGIC)


def check_budget_balance_with_bonus(bounds: Bounds, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: weak budget balance with the bonus: owners' payments cover what the stations
    receive (weight parts, bonuses, less taxes), the stations are paid at most the budget and
    the bonuses at most the pool, and the surplus is never negative."""

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        paid = [w + b for w, b in zip(out.station_weight_part, out.station_bonus)]
        return z3.Or(z3.Sum(list(out.owner_pays)) < z3.Sum(list(out.station_receives)),
                     z3.Sum(paid) > enc.at(out.budgets, out.winner), z3.Sum(list(out.station_bonus)) > out.bonus_pool,
                     out.surplus < 0)

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        budget = 0 if o.winner is None else o.budgets[o.winner]
        if (sum(o.owner_pays) >= sum(o.station_receives) and sum(o.station_paid) <= budget
                and sum(o.station_bonus) <= o.bonus_pool and o.surplus >= 0):
            return None
        return {"owners_pay": sum(o.owner_pays), "stations_receive": sum(o.station_receives)}

    return _bonus_single("bonus: weak budget balance", bounds, negated, violated, timeout_s)


def check_accounting_with_bonus(bounds: Bounds, *, timeout_s: float = 60.0) -> CheckResult:
    """Row: exact accounting with the bonus: owners' payments equal what the stations
    receive plus the surplus (taxes, the shares' dust and the bonus pool's), to the wei
    (the surplus is not negative: the budget-balance row)."""

    def negated(profile: enc.SymbolicProfile, out: enc.SymbolicOutcome) -> z3.BoolRef:
        return z3.Sum(list(out.owner_pays)) != z3.Sum(list(out.station_receives)) + out.surplus

    def violated(o: Any, p: dict[str, Any]) -> dict[str, Any] | None:
        if sum(o.owner_pays) == sum(o.station_receives) + o.surplus:
            return None
        return {"paid_in": sum(o.owner_pays), "stations_receive": sum(o.station_receives), "surplus": o.surplus}

    return _bonus_single("bonus: exact accounting", bounds, negated, violated, timeout_s)


__all__ = [
    "NO_SHOW_RULES",
    "ROUNDING",
    "SMALL_AMOUNT",
    "check_accounting_with_bonus",
    "check_bound_direct",
    "check_bound_every_n_m",
    "check_bound_tight",
    "check_budget_balance_with_bonus",
    "check_owners_unchanged",
    "check_solvency_with_bonus",
    "gain_step",
    "lemmas",
]
