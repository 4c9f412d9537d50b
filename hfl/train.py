"""Hierarchical FedAvg (HierFAVG, Liu et al. 2020): clients -> base stations -> cloud (the winning owner).

One global round: every station starts from the global model and runs `kappa2` edge rounds; in
each, its clients train locally for `kappa1` epochs (or steps) of SGD from the station's model,
and the station replaces its model by the average of its clients' models weighted by their
sample counts. The cloud then averages the stations' models weighted by their sample counts.
With one station and `kappa2 = 1` this is exactly FedAvg (McMahan et al. 2017).

`station_update` is the unit of work of one station in one global round; it is deterministic
given `(cfg.seed, round_idx, station_idx)` and the incoming model, so running stations in other
processes (the Flower app) reproduces the in-process result on the same device kind.

Speed: data stays as uint8 on the device; `hfl.batches` normalises and augments it there on
whole batches, following a per-edge-round `Schedule`. Models without buffers (the small CNN)
train all clients of a station at once: `torch.func.vmap` over parameters stacked along a
client axis, with a hand-written SGD that matches `torch.optim.SGD` (momentum, weight decay).
Clients with fewer samples than the largest simply sit out (masked) in the steps they lack, so
the schedule is exactly per-client epochs. Models with batch norm (the ResNets) train client by
client, channels-last and under bfloat16 autocast on CUDA.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from hfl.aggregate import cloud_aggregate, weighted_average, weighted_average_stacked
from hfl.batches import Schedule, augments, make_schedule, prepare_batch, station_generator
from hfl.config import ConfigError, TrainConfig
from hfl.contribution import station_contributions
from hfl.data import Client, Federation, build_federation, derive_seed, info_for
from hfl.models import build_model, has_buffers
from hfl.result import TrainResult

State = dict[str, Tensor]


# Device, precision, model templates ---------------------------------------------------------


def resolve_device(cfg: TrainConfig) -> torch.device:
    """`auto` -> cuda when available, else cpu; asking for cuda without one is a `ConfigError`."""
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for but torch sees no CUDA device")
    return torch.device(cfg.device)


_TORCH_THREADS = torch.get_num_threads()  # torch's own default (physical cores), before anyone changes it


def default_threads(cfg: TrainConfig, device: torch.device) -> int:
    """CPU threads for torch: 1 for the small CNN on the CPU, else half the logical CPUs (at most
    torch's default).

    Measured on a 2-core machine shared with other jobs: one epoch of digits with the small CNN
    took 5-16 s with 2 threads and 0.6 s with 1; ResNet-18 trained at 4.9 images/s with 2 threads
    and 54 with 1. Threads that spin waiting for a busy core cost far more than they bring, so
    leave half of the machine to everything else.
    """
    if device.type == "cpu" and cfg.model == "cnn":
        return 1
    return max(1, min(_TORCH_THREADS, (os.cpu_count() or 2) // 2))


def autocast_for(device: torch.device, cfg: TrainConfig) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA (unless `cfg.amp` is False); full precision on the CPU by default."""
    enabled = cfg.amp if cfg.amp is not None else device.type == "cuda"
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _channels_last(device: torch.device) -> bool:
    return device.type == "cuda"


ModelKey = tuple[str, str | None, tuple[int, int, int], int]  # name, plugin, data shape, classes


def model_key(cfg: TrainConfig) -> ModelKey:
    """What the model's architecture depends on: its name (and plugin) and the data's shape and classes."""
    return cfg.model, cfg.model_plugin, cfg.data_shape, cfg.num_classes


def build(key: ModelKey) -> nn.Module:
    """A fresh model of the job (torch's global RNG draws its initial weights)."""
    name, plugin, (c, h, w), classes = key
    return build_model(name, c, classes, (h, w), plugin=plugin)


@functools.lru_cache(maxsize=8)
def _template(key: ModelKey, device: str) -> nn.Module:
    """One model object per (architecture, device), reused by loading states into it."""
    m = build(key).to(device)
    if _channels_last(torch.device(device)):
        m = m.to(memory_format=torch.channels_last)
    return m


def model_for(cfg: TrainConfig, device: torch.device | str) -> nn.Module:
    return _template(model_key(cfg), str(torch.device(device)))


def init_state(cfg: TrainConfig, device: torch.device | str = "cpu") -> State:
    """The initial global model, a function of `cfg.seed` only (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build(model_key(cfg))
    return {k: v.detach().to(device) for k, v in model.state_dict().items()}


def _vectorize(cfg: TrainConfig, model: nn.Module, device: torch.device) -> bool:
    if cfg.vectorize is None:
        # Measured on the CPU (small CNN, digits, 1 thread): a vmap step over 5 clients x 32 images
        # costs more than 5 single-client steps (62 vs 49 ms): the CPU is compute-bound even here,
        # and masked clients add waste. vmap pays where kernel launches dominate: on CUDA.
        return device.type == "cuda" and not has_buffers(model)
    if cfg.vectorize and has_buffers(model):
        raise ConfigError("vectorize", f"model {cfg.model} has buffers (batch norm); train it client by client")
    return cfg.vectorize


# Local training -----------------------------------------------------------------------------


@torch.no_grad()
def sgd_step(params: Sequence[Tensor], grads: Sequence[Tensor], bufs: Sequence[Tensor], cfg: TrainConfig,
             active: Tensor | None = None) -> None:
    """In place, the update of `torch.optim.SGD(lr, momentum, weight_decay)` (no dampening or
    Nesterov; a zero momentum buffer makes the first step equal to torch's). Written out because
    the optimizer's first use imports torch._dynamo, several seconds on a small CPU.

    The only SGD update of the trainer: both client trainers call it. `active` (bool [K]) is for
    tensors stacked along a leading client axis: only the clients it marks step; the others keep
    their weights and momentum (a client whose epoch is over sits the step out).
    """
    params, bufs = list(params), list(bufs)
    if active is None:
        _sgd_update(params, grads, bufs, cfg)
        return
    # Step every client, then put back those that sat out: the active ones get exactly the
    # arithmetic of an unmasked step, so vmapped and client-by-client training agree.
    before = [(p.clone(), b.clone()) for p, b in zip(params, bufs)]
    _sgd_update(params, grads, bufs, cfg)
    for p, b, (p0, b0) in zip(params, bufs, before):
        keep = ~active.view(-1, *([1] * (p.dim() - 1)))
        p.copy_(torch.where(keep, p0, p))
        b.copy_(torch.where(keep, b0, b))


def _sgd_update(params: list[Tensor], grads: Sequence[Tensor], bufs: list[Tensor], cfg: TrainConfig) -> None:
    # foreach: one fused kernel per operation for all tensors (fewer launches on a GPU).
    grads = [g.float() for g in grads]
    if cfg.weight_decay:
        grads = torch._foreach_add(grads, params, alpha=cfg.weight_decay)
    torch._foreach_mul_(bufs, cfg.momentum)
    torch._foreach_add_(bufs, grads)
    torch._foreach_add_(params, bufs, alpha=-cfg.lr)


def _loss(model: nn.Module, params: Mapping[str, Tensor], x: Tensor, y: Tensor, w: Tensor) -> Tensor:
    logits = functional_call(model, params, (x,))  # [B, classes]
    ce = F.cross_entropy(logits.float(), y, reduction="none")
    return (ce * w).sum() / w.sum().clamp_min(1.0)


def train_clients_vectorized(model: nn.Module, start: Mapping[str, Tensor], x: Tensor, y: Tensor,
                             sched: Schedule, cfg: TrainConfig, gen: torch.Generator,
                             device: torch.device) -> dict[str, Tensor]:
    """All K clients of a station at once; returns their parameters stacked: each tensor [K, ...]."""
    info = info_for(cfg)
    augment = augments(cfg)
    n_steps, k, bsz = sched.idx.shape
    params = {n: start[n].detach().unsqueeze(0).repeat(k, *([1] * start[n].dim())) for n, _ in
              model.named_parameters()}
    bufs = {n: torch.zeros_like(p) for n, p in params.items()}
    grad_fn = vmap(grad(functools.partial(_loss, model)))
    for s in range(n_steps):
        valid = sched.valid[s]  # [K] on the CPU: no device sync
        w = sched.weight[s]  # [K, B]
        idx = sched.idx[s]  # [K, B]
        xb = prepare_batch(x[idx.reshape(-1)], info, augment=augment, gen=gen)
        xb = xb.view(k, bsz, *xb.shape[1:])  # [K, B, C, H, W]
        yb = y[idx]  # [K, B]
        with autocast_for(device, cfg):
            g = grad_fn(params, xb, yb, w)
        # Mask only when some client sits out: a full step needs no copies.
        active = None if bool((valid > 0).all()) else sched.active[s]  # [K]
        sgd_step(list(params.values()), [g[n] for n in params], list(bufs.values()), cfg, active)
    out = dict(params)
    for n, v in start.items():  # buffers (none for vectorizable models) pass through unchanged
        if n not in out:
            out[n] = v.unsqueeze(0).repeat(k, *([1] * v.dim()))
    return {n: out[n] for n in start}


def train_clients_loop(model: nn.Module, start: Mapping[str, Tensor], x: Tensor, y: Tensor, sched: Schedule,
                       cfg: TrainConfig, gen: torch.Generator, device: torch.device) -> list[State]:
    """Client by client, each with its own SGD momentum (any model, batch norm included)."""
    info = info_for(cfg)
    augment = augments(cfg)
    cl = _channels_last(device)
    n_steps, k, _ = sched.idx.shape
    # Batch norm cannot normalise a batch of one image once the maps are 1x1 (torch refuses it):
    # with batch norm, a client's last batch holding a single image is left out.
    least = 2 if has_buffers(model) else 1
    states = []
    model.train()
    for c in range(k):
        model.load_state_dict(start)
        params = [p for p in model.parameters() if p.requires_grad]
        bufs = [torch.zeros_like(p) for p in params]
        for s in range(n_steps):
            nv = int(sched.valid[s, c])
            if nv < least:
                continue
            idx = sched.idx[s, c, :nv]
            xb = prepare_batch(x[idx], info, augment=augment, gen=gen)
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast_for(device, cfg):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), y[idx])
            for p in params:
                p.grad = None
            loss.backward()
            sgd_step(params, [p.grad for p in params], bufs, cfg)  # type: ignore[misc]
        states.append({n: v.detach().clone() for n, v in model.state_dict().items()})
    return states


def station_update(global_state: Mapping[str, Tensor], station_clients: Sequence[Client], cfg: TrainConfig,
                   round_idx: int, station_idx: int) -> tuple[State, int]:
    """One station's share of global round `round_idx`: `kappa2` edge rounds of client training
    (`kappa1` local epochs/steps each) and edge aggregation weighted by client sample counts.

    Returns the station's model and its number of training samples (its weight in the cloud
    aggregation). Deterministic in (cfg.seed, round_idx, station_idx, global_state): another
    process reproduces it bit for bit on the same device kind with the same torch thread count
    (`default_threads`), since float sums depend on how kernels split their work.
    """
    device = resolve_device(cfg)
    sizes = [int(yc.numel()) for _, yc in station_clients]
    n_samples = sum(sizes)
    state: State = {n: v.to(device) for n, v in global_state.items()}
    if n_samples == 0:
        return state, 0
    members = [i for i, s in enumerate(sizes) if s > 0]
    x = torch.cat([station_clients[i][0].to(device) for i in members])
    y = torch.cat([station_clients[i][1].to(device) for i in members])
    sizes = [sizes[i] for i in members]
    model = model_for(cfg, device)
    vectorize = _vectorize(cfg, model, device)
    gen = station_generator(cfg, round_idx, station_idx, device)
    # Dropout and stochastic depth (many torchvision models) draw from torch's global RNG: seeded
    # here by (seed, round, station) too, so that another process reproduces the station's model.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed(cfg.seed, 2000 + round_idx, station_idx))
        for _ in range(cfg.kappa2):
            sched = make_schedule(sizes, cfg, gen, device)
            if vectorize:
                stacked = train_clients_vectorized(model, state, x, y, sched, cfg, gen, device)
                state = weighted_average_stacked(stacked, sizes)
            else:
                state = weighted_average(train_clients_loop(model, state, x, y, sched, cfg, gen, device), sizes)
    return state, n_samples


def images_per_station_update(station_clients: Sequence[Client], cfg: TrainConfig) -> int:
    """Training images one `station_update` processes (for throughput figures)."""
    sizes = [int(yc.numel()) for _, yc in station_clients]
    per_client = [cfg.kappa1 * cfg.batch_size if cfg.kappa1_unit == "steps" else cfg.kappa1 * s for s in sizes if s]
    return cfg.kappa2 * sum(per_client)


# Evaluation ---------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(state_or_model: Mapping[str, Tensor] | nn.Module, test: Client, cfg: TrainConfig, *,
             labels: Sequence[int] | None = None) -> float:
    """Accuracy on the test samples whose label is in `labels` (default: `cfg.scored_labels`, i.e.
    `eval_labels` if given, else the target labels).

    The prediction is the arg-max over all of the model's classes, so a label the model was never
    trained on counts as a miss (what an owner interested in it would see).
    """
    device = resolve_device(cfg)
    info = info_for(cfg)
    if isinstance(state_or_model, nn.Module):
        model = state_or_model
    else:
        model = model_for(cfg, device)
        model.load_state_dict({n: v.to(device) for n, v in state_or_model.items()})
    was_training = model.training
    model.eval()
    xt, yt = test[0].to(device), test[1].to(device)
    wanted = torch.tensor(sorted(set(labels if labels is not None else cfg.scored_labels)), device=device)
    keep = torch.isin(yt, wanted)
    xt, yt = xt[keep], yt[keep]
    if yt.numel() == 0:
        raise ConfigError("eval_labels", f"no test sample carries any of the labels {wanted.tolist()}")
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, yt.numel(), cfg.eval_batch_size):
        xb = prepare_batch(xt[i:i + cfg.eval_batch_size], info, augment=False, gen=None)
        if _channels_last(device):
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast_for(device, cfg):
            pred = model(xb).argmax(1)
        correct += (pred == yt[i:i + cfg.eval_batch_size]).sum()
    model.train(was_training)
    return int(correct) / int(yt.numel())


# The in-process loop ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundReport:
    """Passed to the progress callback after each global round."""

    round_idx: int  # 0-based
    global_rounds: int
    accuracy: float
    elapsed_s: float


def train(cfg: TrainConfig, *, progress: Callable[[RoundReport], None] | None = None,
          federation: Federation | None = None, measure: bool = True) -> TrainResult:
    """Run `cfg.global_rounds` global rounds in this process and measure station contributions.

    `progress` is called after every global round (None = silent). A prebuilt `federation` (from
    `build_federation(cfg, device)`) skips data loading. `measure=False` skips the contribution
    measurement (all stations then get weight 1).
    """
    t0 = time.perf_counter()
    device = resolve_device(cfg)
    fed = federation if federation is not None else build_federation(cfg, device)
    state = init_state(cfg, device)
    accuracy: list[float] = []
    train_s = 0.0
    images = 0
    last: list[tuple[State, int]] = []
    for r in range(cfg.global_rounds):
        t = time.perf_counter()
        last = [station_update(state, clients, cfg, r, j) for j, clients in enumerate(fed.stations)]
        state = cloud_aggregate(last)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s += time.perf_counter() - t
        images += sum(images_per_station_update(clients, cfg) for clients in fed.stations)
        accuracy.append(evaluate(state, fed.test, cfg))
        if progress is not None:
            progress(RoundReport(r, cfg.global_rounds, accuracy[-1], time.perf_counter() - t0))
    samples = [n for _, n in last]
    if measure:
        report = station_contributions(cfg, [s for s, _ in last], samples, lambda st: evaluate(st, fed.test, cfg))
        contrib, loo, shap, evals, exact = report.weights, report.loo, report.shapley, report.evaluations, report.exact
    else:
        contrib, loo, shap, evals, exact = tuple(1 for _ in samples), (), None, 0, False
    return TrainResult(config=cfg, accuracy=tuple(accuracy), contributions=tuple(contrib),
                       wall_s=time.perf_counter() - t0, train_s=train_s, images=images, device=str(device),
                       station_samples=tuple(samples), loo=loo, shapley=shap, contribution_evals=evals,
                       contribution_exact=exact, final_state={k: v.detach().cpu() for k, v in state.items()})


__all__ = [
    "RoundReport",
    "autocast_for",
    "default_threads",
    "evaluate",
    "images_per_station_update",
    "init_state",
    "model_for",
    "resolve_device",
    "station_update",
    "train",
    "train_clients_loop",
    "train_clients_vectorized",
]
