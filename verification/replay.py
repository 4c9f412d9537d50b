"""Decode z3 models into concrete profiles and replay them through ``mechanism.settle``.

A witness is only ever reported after the reference reproduces it:

1. the model's budgets and claims become ``settle`` keyword arguments;
2. ``settle`` on them must give the outcome the model gives (winner, welfare, payments,
   surplus, and the utilities at stake); any difference is an ``EncodingError``;
3. the property must fail on ``settle``'s outcome too.

Under ``uniform`` the model's draws are arbitrary points of their intervals, so step 2
replays them as fixed budgets, and step 3 then looks for a seed of ``random.Random`` under
which ``settle(budget_policy="uniform", seed=...)`` really breaks the property. The witness
carries that seed and the utilities of that replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3

import mechanism
from verification import encoder as enc
from verification.results import EncodingError

SEED_TRIES = 5000
"""How many seeds ``uniform`` replays try, in order 0, 1, 2, ..."""

Violation = Callable[[mechanism.Outcome, dict[str, Any]], "dict[str, Any] | None"]
"""Re-checks a property on settle's outcome: witness details, or ``None`` when it holds."""


def profile_kwargs(model: z3.ModelRef, profile: enc.SymbolicProfile, rule: str, policy: str) -> dict[str, Any]:
    """The ``settle`` keyword arguments that ``model`` gives ``profile`` (``subsidy`` only when
    the profile has a symbolic one)."""
    kwargs: dict[str, Any] = {
        "budgets": [enc.model_int(model, c) for c in profile.budgets] if policy == "budget" else None,
        "owner_weights": list(profile.owner_weights),
        "station_weights": list(profile.station_weights),
        "owner_values": [[enc.model_int(model, x) for x in row] for row in profile.owner_values],
        "station_costs": [[enc.model_int(model, x) for x in row] for row in profile.station_costs],
        "rule": rule,
        "budget_policy": policy,
    }
    if isinstance(profile.subsidy, z3.ExprRef):
        kwargs["subsidy"] = enc.model_int(model, profile.subsidy)
    if isinstance(profile.bonus_bps, z3.ExprRef) or profile.bonus_bps:
        kwargs["bonus_bps"] = enc.model_int(model, profile.bonus_bps) if isinstance(profile.bonus_bps, z3.ExprRef) else profile.bonus_bps
    if profile.contributions is not None:
        kwargs["contributions"] = [c if isinstance(c, int) else enc.model_int(model, c) for c in profile.contributions]
    if profile.no_show is not None:
        kwargs["no_show_stations"] = [j for j, silent in enumerate(profile.no_show) if z3.is_true(model.eval(silent, model_completion=True))]
    return kwargs


def shares_by_participant(budgets: Sequence[int], profile: dict[str, Any]) -> tuple[list[list[int]], list[list[int]]]:
    """``c[i][m]`` and ``r[j][m]`` from the budgets actually used (``mechanism`` shares, the
    owners' after the profile's subsidy)."""
    subsidy = profile.get("subsidy", 0)
    c_by_m = [mechanism.cost_shares(mechanism.owner_budget(C, subsidy), profile["owner_weights"]) for C in budgets]
    r_by_m = [mechanism.reward_shares(C, profile["station_weights"]) for C in budgets]
    c = [[c_by_m[m][i] for m in range(len(budgets))] for i in range(len(profile["owner_weights"]))]
    r = [[r_by_m[m][j] for m in range(len(budgets))] for j in range(len(profile["station_weights"]))]
    return c, r


def pool_pays(outcome: mechanism.Outcome, profile: dict[str, Any]) -> int:
    """What the code says the recycle pool paid into the winner's budget: the outcome's dust
    is ``sum(owner_share) + pool_pays - sum(what stations are paid before their taxes)``."""
    return outcome.dust - sum(outcome.owner_share) + sum(outcome.station_paid)


def settle_as_encoded(model: z3.ModelRef, out: enc.SymbolicOutcome, kwargs: dict[str, Any]) -> mechanism.Outcome:
    """``settle`` on the model's profile; under ``uniform``, with the model's draws as budgets."""
    if kwargs["budget_policy"] != "uniform":
        return mechanism.settle(**kwargs)
    draws = [enc.model_int(model, c) for c in out.budgets]
    return mechanism.settle(**{**kwargs, "budgets": draws, "budget_policy": "budget"})


def confirm_outcome(model: z3.ModelRef, out: enc.SymbolicOutcome, settled: mechanism.Outcome, what: str) -> None:
    """Raise ``EncodingError`` unless the model's outcome is ``settle``'s, field by field."""
    winner = enc.model_int(model, out.winner)
    fields = {
        "winner": (None if winner == enc.NONE else winner, settled.winner),
        "budgets": ([enc.model_int(model, c) for c in out.budgets], settled.budgets),
        "welfare": ([enc.model_int(model, s) for s in out.welfare], settled.welfare),
        "owner_tax": ([enc.model_int(model, t) for t in out.owner_tax], settled.owner_tax),
        "station_tax": ([enc.model_int(model, t) for t in out.station_tax], settled.station_tax),
        "owner_pays": ([enc.model_int(model, p) for p in out.owner_pays], settled.owner_pays),
        "station_receives": ([enc.model_int(model, r) for r in out.station_receives], settled.station_receives),
        "surplus": (enc.model_int(model, out.surplus), settled.surplus),
    }
    for name, (z3_value, ref_value) in fields.items():
        if z3_value != ref_value:
            raise EncodingError(f"{what}: z3 model gives {name}={z3_value}, mechanism.settle gives {ref_value}")


def _seeds(check: Callable[[int], dict[str, Any] | None]) -> dict[str, Any] | None:
    for seed in range(SEED_TRIES):
        found = check(seed)
        if found is not None:
            return found
    return None


def single_witness(
    model: z3.ModelRef,
    profile: enc.SymbolicProfile,
    out: enc.SymbolicOutcome,
    *,
    rule: str,
    policy: str,
    violated: Violation,
) -> dict[str, Any] | None:
    """The replayed witness of a property of one settlement (``None``: no seed reproduces it)."""
    kwargs = profile_kwargs(model, profile, rule, policy)
    settled = settle_as_encoded(model, out, kwargs)
    confirm_outcome(model, out, settled, "counterexample")
    if policy != "uniform":
        details = violated(settled, kwargs)
        if details is None:
            raise EncodingError(f"counterexample: mechanism.settle satisfies the property on {kwargs}")
        return {"profile": kwargs, "rule": rule, "budget_policy": policy, **details}
    as_drawn = violated(settled, kwargs)
    if as_drawn is None:
        raise EncodingError(f"counterexample: with the model's draws settle satisfies the property on {kwargs}")

    def with_seed(seed: int) -> dict[str, Any] | None:
        seeded = {**kwargs, "seed": seed}
        details = violated(mechanism.settle(**seeded), seeded)
        return None if details is None else {"profile": seeded, "rule": rule, "budget_policy": policy, **details}

    return _seeds(with_seed)


def truthfulness_witness(
    model: z3.ModelRef,
    profile: enc.SymbolicProfile,
    lied: enc.SymbolicProfile,
    out_truth: enc.SymbolicOutcome,
    out_lie: enc.SymbolicOutcome,
    *,
    rule: str,
    policy: str,
    side: str,
    index: int,
    lie: list[int],
    utilities: tuple[int, int],
) -> dict[str, Any] | None:
    """The SPEC section 6 truthfulness witness, replayed (``None``: no seed reproduces it)."""
    truth_kw = profile_kwargs(model, profile, rule, policy)
    key = "owner_values" if side == "owner" else "station_costs"
    true_row = truth_kw[key][index]
    lie_kw = {**truth_kw, key: [lie if n == index else row for n, row in enumerate(truth_kw[key])]}
    if lied.no_show is not None:  # the lie may be never to reveal (SPEC section 9's no-show)
        lie_kw["no_show_stations"] = profile_kwargs(model, lied, rule, policy)["no_show_stations"]
    settled_t = settle_as_encoded(model, out_truth, truth_kw)
    settled_l = settle_as_encoded(model, out_lie, lie_kw)
    confirm_outcome(model, out_truth, settled_t, "truthful run")
    confirm_outcome(model, out_lie, settled_l, "lying run")
    u_t = mechanism.utility(settled_t, side, index, true_row)
    u_l = mechanism.utility(settled_l, side, index, true_row)
    if (u_t, u_l) != utilities:
        raise EncodingError(f"truthfulness: z3 gives utilities {utilities}, mechanism.utility gives {(u_t, u_l)}")
    if not u_l > u_t:
        raise EncodingError(f"truthfulness: the lie does not beat the truth in mechanism.settle on {truth_kw}")

    def witness(kw: dict[str, Any], truthful: int, lying: int) -> dict[str, Any]:
        out = {
            "profile": kw,
            "rule": rule,
            "side": side,
            "index": index,
            "lie": lie,
            "truthful_utility": truthful,
            "lie_utility": lying,
        }
        if index in lie_kw.get("no_show_stations", ()):
            out["never_revealed"] = True  # the "lie" is not to reveal at all (claims count as zeros)
        return out

    if policy != "uniform":
        return witness(truth_kw, u_t, u_l)

    def with_seed(seed: int) -> dict[str, Any] | None:
        t = mechanism.settle(**truth_kw, seed=seed)
        lied_out = mechanism.settle(**lie_kw, seed=seed)
        ut, ul = mechanism.utility(t, side, index, true_row), mechanism.utility(lied_out, side, index, true_row)
        return witness({**truth_kw, "seed": seed}, ut, ul) if ul > ut else None

    return _seeds(with_seed)


def replay_truthfulness(witness: dict[str, Any]) -> tuple[int, int]:
    """Re-run a SPEC section 6 truthfulness witness: ``(truthful_utility, lie_utility)``.

    Used by the tests and by anyone holding a ``--json`` file: it needs only the witness.
    """
    profile = witness["profile"]
    key = "owner_values" if witness["side"] == "owner" else "station_costs"
    true_row = profile[key][witness["index"]]
    lied = {**profile, key: [witness["lie"] if n == witness["index"] else row for n, row in enumerate(profile[key])]}
    if witness.get("never_revealed"):
        lied["no_show_stations"] = [witness["index"]]
    t = mechanism.settle(**profile)
    lie_out = mechanism.settle(**lied)
    return (
        mechanism.utility(t, witness["side"], witness["index"], true_row),
        mechanism.utility(lie_out, witness["side"], witness["index"], true_row),
    )
