"""Choice and Clarke tax (SPEC section 3): pure functions over exact integers (or z3 terms).

Outcomes are the proposals ``0..M-1`` plus ``none`` (nothing trained), whose welfare and
net values are 0 for everybody. Every function is O(M) per participant, so a whole
settlement is O(N*M).

The choice and the tax's maximum are folds with an explicit start and step
(:func:`choice_start` / :func:`choice_step`, :data:`NONE_WELFARE` / ``ops.fold_max``): the
unbounded proofs (``verification.induction``) take their base case and their step from
these very functions, so that a change here changes what is proved for every ``M``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mechanism.ops import INT, Ops

NONE_WELFARE = 0
"""``S(none) = S_-p(none) = 0``: the welfare of the outcome ``none``, where every fold starts."""


def choice_start(ops: Ops = INT) -> tuple[Any, Any]:
    """``(best, winner)`` before any proposal is seen: ``none``, with its welfare."""
    return NONE_WELFARE, ops.NONE


def choice_step(best: Any, winner: Any, welfare: Any, index: Any, ops: Ops = INT) -> tuple[Any, Any]:
    """One step of the choice fold: a strictly higher welfare takes over.

    Strict ``>`` is the whole tie rule: an equal later proposal never replaces an earlier one,
    and a welfare of exactly 0 never replaces the initial ``(0, none)``.
    """
    better = welfare > best
    return ops.select(better, welfare, best), ops.select(better, index, winner)


def choose(welfare: Sequence[Any], ops: Ops = INT) -> Any:
    """``argmax_m S(m)`` if that maximum is > 0, else ``none`` (``None`` on ints).

    Ties between proposals go to the lowest index (strict ``>`` while scanning); a maximum of
    exactly 0 ties with ``none`` and goes to ``none``.
    """
    best, winner = choice_start(ops)
    for m, s in enumerate(welfare):
        best, winner = choice_step(best, winner, s, ops.index(m), ops)
    return winner


def best_without(others_welfare: Sequence[Any], ops: Ops = INT) -> Any:
    """``max over x in {proposals, none} of S_-p(x)``: ``none`` is in the max."""
    return ops.fold_max(NONE_WELFARE, others_welfare)


def tax_formula(best: Any, at_winner: Any) -> Any:
    """The Clarke tax from the others' best welfare and their welfare at the outcome."""
    return best - at_winner


def clarke_tax(others_welfare: Sequence[Any], winner: Any, ops: Ops = INT) -> Any:
    """Tax of a participant given ``S_-p(x)`` for every proposal ``x``.

    ``tax = max over x in {proposals, none} of S_-p(x)  -  S_-p(x*)`` with ``S_-p(none) = 0``.
    Non-negative because ``x*`` is one of the outcomes in the max.
    """
    return tax_formula(best_without(others_welfare, ops), ops.at(others_welfare, winner))


def others_welfare(total: Sequence[Any], own_net: Sequence[Any]) -> list[Any]:
    """``S_-p(x) = total(x) - n_p(x)`` for every proposal (``none`` is 0 for both)."""
    return [t - n for t, n in zip(total, own_net)]
