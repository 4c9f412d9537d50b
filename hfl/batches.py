"""Training batches on the device: which samples each client uses at each local step, and how
a batch of stored uint8 images becomes the normalised (and possibly augmented) float input.

Both the in-process trainer and a station run in another process (the Flower app) draw their
randomness from `station_generator`, seeded by (seed, round, station) only, so a schedule and
its augmentation are reproduced bit for bit wherever the station runs (on the same device kind).

Data stays uint8 on the device; normalisation and augmentation (random crop after zero padding,
horizontal flip) run there on whole batches, so no step waits on the host. A `Schedule` is made
once per edge round for all clients of a station, so the vectorized trainer can index every
client's batch of a step at once and the loop trainer walks the same batches client by client.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hfl.config import TrainConfig
from hfl.data import DatasetInfo, derive_seed


def station_generator(cfg: TrainConfig, round_idx: int, station_idx: int, device: torch.device) -> torch.Generator:
    """The random stream of one station in one global round (batch order, augmentation)."""
    return torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, 1000 + round_idx, station_idx))


@functools.lru_cache(maxsize=16)
def _norm_constants(mean: tuple[float, ...], std: tuple[float, ...], device: str) -> tuple[Tensor, Tensor]:
    # Made once per device: a fresh host-to-device copy each step would stall a GPU's stream.
    c = len(mean)
    return (torch.tensor(mean, device=device).view(1, c, 1, 1), torch.tensor(std, device=device).view(1, c, 1, 1))


def prepare_batch(x: Tensor, info: DatasetInfo, *, augment: bool, gen: torch.Generator | None) -> Tensor:
    """uint8 [B, C, H, W] -> normalised float [B, C, H, W]; with `augment`, a random crop after
    zero-padding by H/8 pixels and a random horizontal flip, all on the tensor's device."""
    b, c, h, w = x.shape
    mean, std = _norm_constants(info.mean, info.std, str(x.device))
    xf = (x.float().div_(255.0) - mean) / std
    if augment:
        pad = max(1, h // 8)
        padded = F.pad(xf, (pad, pad, pad, pad))  # zeros = the mean after normalisation
        off = torch.randint(0, 2 * pad + 1, (2, b), device=x.device, generator=gen)
        rows = (off[0].view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1).expand(b, c, h, w)
        cols = (off[1].view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(b, c, h, w)
        xf = _crop(padded, rows, cols)
        flip = torch.rand(b, device=x.device, generator=gen) < 0.5
        xf = torch.where(flip.view(b, 1, 1, 1), xf.flip(3), xf)
    return xf


def _crop(padded: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    # padded [B, C, H+2p, W+2p]; rows/cols [B, C, H, W] absolute indices -> [B, C, H, W]
    b, c, hp, wp = padded.shape
    h, w = rows.shape[2], rows.shape[3]
    flat = padded.reshape(b, c, hp * wp)
    return flat.gather(2, (rows * wp + cols).reshape(b, c, h * w)).view(b, c, h, w)


@dataclass(frozen=True)
class Schedule:
    """Which samples each client uses at each local step of one edge round.

    idx [S, K, B] int64 positions into the station's concatenated data; valid [S, K] (CPU) the
    number of real samples in each client's batch (0 = the client sits this step out); weight
    [S, K, B] (device) 1.0 for real samples, 0.0 for padding; active [S, K] (device) valid > 0.
    The device copies are made once per edge round, so no step waits on a host-to-device copy.
    """

    idx: Tensor
    valid: np.ndarray
    weight: Tensor
    active: Tensor


def _schedule(idx: Tensor, valid: np.ndarray, bsz: int) -> Schedule:
    valid_t = torch.from_numpy(valid)
    weight = (torch.arange(bsz).view(1, 1, bsz) < valid_t.unsqueeze(-1)).float()
    return Schedule(idx, valid, weight.to(idx.device), (valid_t > 0).to(idx.device))


def make_schedule(sizes: Sequence[int], cfg: TrainConfig, gen: torch.Generator, device: torch.device) -> Schedule:
    """Epochs: each client reshuffles its data every epoch and walks it in batches (last one partial).
    Steps: each batch is drawn uniformly (with replacement) from the client's data."""
    k = len(sizes)
    bsz = cfg.batch_size
    sizes_t = torch.tensor(sizes, device=device)
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]), device=device)
    if cfg.kappa1_unit == "steps":
        u = torch.rand(cfg.kappa1, k, bsz, device=device, generator=gen)
        idx = (u * sizes_t.view(1, k, 1)).long().clamp_max(sizes_t.view(1, k, 1) - 1) + offsets.view(1, k, 1)
        return _schedule(idx, np.full((cfg.kappa1, k), bsz, dtype=np.int64), bsz)
    n_max = max(sizes)
    steps = math.ceil(n_max / bsz)
    sizes_np = np.asarray(sizes)
    valid_epoch = np.clip(sizes_np[None, :] - bsz * np.arange(steps)[:, None], 0, bsz)  # [steps, K]
    pos = torch.arange(n_max, device=device)
    parts = []
    for _ in range(cfg.kappa1):
        keys = torch.rand(k, n_max, device=device, generator=gen)
        keys = keys.masked_fill(pos.view(1, -1) >= sizes_t.view(-1, 1), 2.0)  # padding sorts last
        perm = keys.argsort(dim=1)  # [K, n_max]: a permutation of 0..n_k-1 first, then padding
        perm = torch.where(perm < sizes_t.view(-1, 1), perm, 0) + offsets.view(-1, 1)
        perm = F.pad(perm, (0, steps * bsz - n_max))  # [K, steps*B]
        parts.append(perm.view(k, steps, bsz).transpose(0, 1))  # [steps, K, B]
    return _schedule(torch.cat(parts, 0), np.tile(valid_epoch, (cfg.kappa1, 1)), bsz)


AUGMENTED = ("cifar10", "cifar100")  # photographs of things; flips would change digits, letters, house numbers


def augments(cfg: TrainConfig) -> bool:
    """Whether training batches are augmented: `cfg.augment`, by default on for CIFAR-10 and CIFAR-100
    only (horizontal flips change what a digit means; an unknown set is left as it is)."""
    return cfg.augment if cfg.augment is not None else cfg.dataset in AUGMENTED


__all__ = ["Schedule", "augments", "make_schedule", "prepare_batch", "station_generator"]
