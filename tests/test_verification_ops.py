"""The operations layer is the one place where settle and its encoding can part: each of
its members gives the same integer on Python ints and, evaluated, on z3 terms."""

from __future__ import annotations

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanism.ops import INT
from verification.z3ops import NONE, Z3

ints = st.integers(-(2**100), 2**100)
vectors = st.lists(ints, min_size=1, max_size=5)
no_deadline = settings(deadline=None)  # z3 calls take their time on a loaded machine: no timing test here


def _value(term: object) -> int:
    simplified = z3.simplify(term) if isinstance(term, z3.ExprRef) else term
    return simplified.as_long() if isinstance(simplified, z3.ExprRef) else simplified  # type: ignore[union-attr,return-value]


def _winner(m: int | None) -> z3.ArithRef:
    return z3.IntVal(NONE if m is None else m)


@no_deadline
@given(ints, st.integers(1, 2**97))
def test_floor_division_is_the_same_floor_on_both_sides_of_zero(a: int, d: int) -> None:
    assert _value(Z3.floor_div(z3.IntVal(a), d)) == INT.floor_div(a, d) == a // d


@no_deadline
@given(ints, ints, st.booleans())
def test_minimum_and_select_agree(a: int, b: int, cond: bool) -> None:
    assert _value(Z3.minimum(z3.IntVal(a), z3.IntVal(b))) == INT.minimum(a, b)
    assert _value(Z3.select(z3.BoolVal(cond), z3.IntVal(a), z3.IntVal(b))) == INT.select(cond, a, b)


@no_deadline
@given(ints, vectors)
def test_maxima_and_totals_agree(start: int, values: list[int]) -> None:
    terms = [z3.IntVal(v) for v in values]
    assert _value(Z3.fold_max(z3.IntVal(start), terms)) == INT.fold_max(start, values)
    assert _value(Z3.max_of(terms)) == INT.max_of(values)
    assert _value(Z3.total(terms)) == INT.total(values)


@no_deadline
@given(vectors, st.data())
def test_a_vector_at_the_winner_is_its_entry_and_zero_at_none(values: list[int], data: st.DataObject) -> None:
    m = data.draw(st.one_of(st.none(), st.integers(0, len(values) - 1)))
    assert _value(Z3.at([z3.IntVal(v) for v in values], _winner(m))) == INT.at(values, m)
    rows = [[v, v + 1] for v in values]
    got = [_value(x) for x in Z3.row_at([[z3.IntVal(x) for x in r] for r in rows], _winner(m), 2)]
    assert got == INT.row_at(rows, m, 2)


def test_a_non_positive_divisor_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="d:"):
        Z3.floor_div(z3.Int("x"), 0)
