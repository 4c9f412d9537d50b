"""HCFL's reference mechanism: truthful crowdfunding by the Clarke tax (SPEC sections 2-3).

``settle`` is the exact integer reference that the contract, the z3 encoding and the
experiments are checked against; ``settle_fast`` is its vectorized twin for big simulations;
``utility`` computes a participant's utility under its true values.
"""

from mechanism.clarke import choose, clarke_tax, others_welfare
from mechanism.fast import settle_fast
from mechanism.settle import Outcome, settle, settle_checked, transfers, utility
from mechanism.shares import (ceil_div, cost_shares, deposit_bounds, dust, effective_budgets, least_deposit_per_weight,
                              owner_deposit_bound,
                              reward_shares, station_deposit_bound)
from mechanism.validate import BUDGET_POLICIES, MAX_AMOUNT, RULES

__all__ = [
    "BUDGET_POLICIES",
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
