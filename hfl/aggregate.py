"""Weighted averages of model states: the only arithmetic of (hierarchical) FedAvg.

McMahan et al. 2017 (FedAvg) and Liu et al. 2020 ("Client-Edge-Cloud Hierarchical Federated
Learning", HierFAVG) both aggregate by averaging parameters weighted by sample counts; the
edge (base station) and the cloud (the winning owner) use the same function. Pure functions:
no model, no device choice, inputs are never modified.

Sums are taken in float64 and cast back to each tensor's dtype, so that the average of a few
float32 states is the exact weighted mean rounded once; integer buffers (batch norm's
`num_batches_tracked`) are rounded to the nearest integer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

State = Mapping[str, Tensor]


def _check_weights(weights: Sequence[float] | Tensor, n: int) -> list[float]:
    w = [float(v) for v in (weights.tolist() if isinstance(weights, Tensor) else weights)]
    if len(w) != n:
        raise ValueError(f"weights: {len(w)} weights for {n} states")
    if n == 0:
        raise ValueError("states: nothing to average")
    if any(not (v >= 0) for v in w):  # also catches NaN
        raise ValueError(f"weights: must be >= 0, got {w}")
    if sum(w) <= 0:
        raise ValueError("weights: must not all be zero")
    return w


def _cast(x: Tensor, dtype: torch.dtype) -> Tensor:
    if dtype.is_floating_point or dtype.is_complex:
        return x.to(dtype)
    return torch.round(x).to(dtype)


def weighted_average_tensors(tensors: Sequence[Tensor], weights: Sequence[float] | Tensor) -> Tensor:
    """sum_k w_k * t_k / sum_k w_k for same-shaped tensors, in float64, cast back to the first's dtype."""
    w = _check_weights(weights, len(tensors))
    total = sum(w)
    acc = torch.zeros_like(tensors[0], dtype=torch.float64)
    for wk, t in zip(w, tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"tensors: shape {tuple(t.shape)} differs from {tuple(tensors[0].shape)}")
        if wk:
            acc.add_(t.to(torch.float64), alpha=wk)
    return _cast(acc / total, tensors[0].dtype)


def weighted_average(states: Sequence[State], weights: Sequence[float] | Tensor) -> dict[str, Tensor]:
    """The weighted average of state dicts with identical keys (FedAvg's aggregation step).

    `weights` are typically the sample counts behind each state.
    """
    w = _check_weights(weights, len(states))
    keys = list(states[0].keys())
    for i, s in enumerate(states[1:], start=1):
        if list(s.keys()) != keys:
            raise ValueError(f"states: state {i} has keys differing from state 0")
    return {k: weighted_average_tensors([s[k] for s in states], w) for k in keys}


def weighted_average_stacked(stacked: State, weights: Sequence[float] | Tensor) -> dict[str, Tensor]:
    """The same average for states stacked along a leading client axis: each tensor is [K, ...].

    Equal (to the last bit) to `weighted_average` of the K unstacked states.
    """
    first = next(iter(stacked.values()))
    n = first.shape[0]
    return {k: weighted_average_tensors(list(v.unbind(0)), weights) if v.shape[0] == n else _shape_error(k)
            for k, v in stacked.items()}


def _shape_error(key: str) -> Tensor:
    raise ValueError(f"stacked: tensor {key!r} has a different leading (client) dimension")


def cloud_aggregate(station_results: Sequence[tuple[State, int]]) -> dict[str, Tensor]:
    """The owner's aggregation (the cloud level of HierFAVG): the stations' models weighted by
    their sample counts, from `(state, n_samples)` pairs as `hfl.train.station_update` returns them."""
    return weighted_average([s for s, _ in station_results], [n for _, n in station_results])


__all__ = ["State", "cloud_aggregate", "weighted_average", "weighted_average_stacked", "weighted_average_tensors"]
