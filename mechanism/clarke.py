"""Choice and Clarke tax (SPEC section 3): pure functions over exact integers.

Outcomes are the proposals ``0..M-1`` plus ``None`` (nothing trained), whose welfare and
net values are 0 for everybody. Every function is O(M) per participant, so a whole
settlement is O(N*M).
"""

from __future__ import annotations

from collections.abc import Sequence


def choose(welfare: Sequence[int]) -> int | None:
    """``argmax_m S(m)`` if that maximum is > 0, else ``None``.

    Ties between proposals go to the lowest index (strict ``>`` while scanning); a maximum of
    exactly 0 ties with ``none`` and goes to ``none``.
    """
    best, winner = 0, None
    for m, s in enumerate(welfare):
        if s > best:
            best, winner = s, m
    return winner


def clarke_tax(others_welfare: Sequence[int], winner: int | None) -> int:
    """Tax of a participant given ``S_-p(x)`` for every proposal ``x``.

    ``tax = max over x in {proposals, none} of S_-p(x)  -  S_-p(x*)`` with ``S_-p(none) = 0``.
    Non-negative because ``x*`` is one of the outcomes in the max.
    """
    best_without = max(0, max(others_welfare, default=0))
    at_winner = 0 if winner is None else others_welfare[winner]
    return best_without - at_winner


def others_welfare(total: Sequence[int], own_net: Sequence[int]) -> list[int]:
    """``S_-p(x) = total(x) - n_p(x)`` for every proposal (``none`` is 0 for both)."""
    return [t - n for t, n in zip(total, own_net)]
