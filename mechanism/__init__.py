"""HCFL's reference mechanism: truthful crowdfunding by the Clarke tax (SPEC sections 2-3).

``settle`` is the exact integer reference that the contract, the z3 encoding and the
experiments are checked against; ``settle_fast`` is its vectorized twin for big simulations;
``utility`` computes a participant's utility under its true values. ``settle_core`` is the
integer core written once over ``ops`` (:mod:`mechanism.ops`): ``settle`` runs it on ints,
``verification`` on z3 terms.
"""

from mechanism.clarke import choose, clarke_tax, others_welfare
from mechanism.fast import settle_fast
from mechanism.ops import INT, IntOps, Ops
from mechanism.settle import (Outcome, Settlement, participant_utility, settle, settle_checked, settle_core, station_pay,
                              transfers, utility)
from mechanism.shares import (BPS, bonus_pool, bonus_shares, ceil_div, cost_shares, deposit_bounds, dust, effective_budgets, least_deposit_per_weight,
                              net_values, owner_budget, owner_deposit_bound, policy_budgets, reward_shares,
                              station_bonus_hold, station_deposit_bound, subsidy_used, weight_parts)
from mechanism.validate import BUDGET_POLICIES, MAX_AMOUNT, RULES

__all__ = [
    "BPS",
    "BUDGET_POLICIES",
    "bonus_pool",
    "bonus_shares",
    "station_bonus_hold",
    "station_pay",
    "weight_parts",
    "INT",
    "IntOps",
    "Ops",
    "Settlement",
    "net_values",
    "owner_budget",
    "participant_utility",
    "policy_budgets",
    "settle_core",
    "subsidy_used",
    "MAX_AMOUNT",
    "RULES",
    "Outcome",
    "ceil_div",
    "choose",
    "clarke_tax",
    "cost_shares",
    "deposit_bounds",
    "dust",
    "effective_budgets",
    "least_deposit_per_weight",
    "others_welfare",
    "owner_deposit_bound",
    "reward_shares",
    "settle",
    "settle_checked",
    "settle_fast",
    "station_deposit_bound",
    "transfers",
    "utility",
]
