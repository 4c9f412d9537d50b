"""hfl.aggregate: weighted averages of model states are exact."""

from __future__ import annotations

import pytest
import torch

from hfl.aggregate import weighted_average, weighted_average_stacked, weighted_average_tensors


def test_weighted_average_of_known_tensors_is_exact():
    a = {"w": torch.tensor([1.0, 2.0, -4.0]), "b": torch.tensor([[0.5]])}
    b = {"w": torch.tensor([3.0, 6.0, 4.0]), "b": torch.tensor([[1.5]])}
    out = weighted_average([a, b], [1, 3])
    assert torch.equal(out["w"], torch.tensor([2.5, 5.0, 2.0]))
    assert torch.equal(out["b"], torch.tensor([[1.25]]))
    assert out["w"].dtype == torch.float32


def test_average_is_rounded_once_from_float64():
    # 0.1 has no exact float32; the mean of three equal-weight copies of 0.1f must be 0.1f itself.
    x = torch.tensor([0.1], dtype=torch.float32)
    assert torch.equal(weighted_average_tensors([x, x, x], [7, 7, 7]), x)
    # Weights need not be normalised; a zero weight drops a state.
    assert torch.equal(weighted_average_tensors([x, torch.tensor([9.0])], [5, 0]), x)


def test_integer_buffers_are_rounded_to_the_nearest_integer():
    out = weighted_average([{"n": torch.tensor(10)}, {"n": torch.tensor(13)}], [1, 1])
    assert out["n"].dtype == torch.int64 and int(out["n"]) == 12  # 11.5 rounds half to even


def test_stacked_average_equals_the_average_of_the_unstacked_states():
    g = torch.Generator().manual_seed(0)
    states = [{"w": torch.randn(4, 3, generator=g), "b": torch.randn(3, generator=g)} for _ in range(5)]
    stacked = {k: torch.stack([s[k] for s in states]) for k in states[0]}
    weights = [3, 1, 4, 1, 5]
    a, b = weighted_average(states, weights), weighted_average_stacked(stacked, weights)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("weights", [[1], [1, -1], [0, 0], [float("nan"), 1]])
def test_bad_weights_raise_naming_the_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        weighted_average([{"w": torch.zeros(1)}, {"w": torch.ones(1)}], weights)


def test_states_with_different_keys_are_refused():
    with pytest.raises(ValueError, match="states"):
        weighted_average([{"w": torch.zeros(1)}, {"v": torch.ones(1)}], [1, 1])
