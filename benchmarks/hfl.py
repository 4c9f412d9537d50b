"""Throughput of hierarchical FedAvg against centralized training of the same model on the same data.

Claim: hierarchical training (HierFAVG: clients -> base stations -> owner) keeps at least 0.7x the
images/s of centralized training of the same model on the same data, on the CPU (small CNN,
digits) and on a GPU (ResNet-18, CIFAR-shaped data).

Method: both modes run the trainer's own code (`hfl.train.station_update`). Centralized is one
station with one client holding all the training data, doing `kappa1 x kappa2` epochs per round
(the same images per round as the federation). Hierarchical is the whole federation: every
station's clients, edge aggregation after each edge round, cloud aggregation after each global
round. Timed: `--rounds` global rounds after one warm-up station update, evaluation excluded;
CUDA work is timed with CUDA events; on the CPU both the wall clock and this process's CPU time
are reported (on a machine shared with other jobs the second is the steadier measure). Modes
are interleaved over `--runs` repetitions (so that a busy machine slows all alike) and reported
as mean and standard deviation. The hardware and the
torch thread count are printed with the table.

    python -m benchmarks.hfl                      # CPU: small CNN on digits
    python -m benchmarks.hfl --device cuda --model resnet18 --dataset fake-cifar10
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import torch

from hfl.aggregate import cloud_aggregate
from hfl.config import ConfigError, TrainConfig
from hfl.data import Federation, build_federation, write_fake_cifar10
from hfl.models import has_buffers
from hfl.train import (default_threads, evaluate, images_per_station_update, init_state, model_for, resolve_device,
                       station_update)


@dataclass(frozen=True)
class Mode:
    name: str
    cfg: TrainConfig
    fed: Federation
    default: bool  # the path `python -m hfl` takes with this config


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def _std(xs: Sequence[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


@dataclass(frozen=True)
class Measurement:
    name: str
    rates: tuple[float, ...]  # images/s by the wall clock (CUDA events on a GPU), one per run
    cpu_rates: tuple[float, ...]  # images/s by this process's CPU time (CPU runs only)
    accuracy: float  # after the last run's rounds (a sanity check that it trained)
    default: bool

    @property
    def mean(self) -> float:
        return _mean(self.rates)

    @property
    def std(self) -> float:
        return _std(self.rates)

    @property
    def cpu_mean(self) -> float:
        return _mean(self.cpu_rates)


def _timed(device: torch.device, fn: Callable[[], None]) -> tuple[float, float | None]:
    """(wall seconds, CPU seconds of this process or None on a GPU).

    On a CPU shared with other jobs the wall clock also counts the time the scheduler gave
    others; with one torch thread the process's CPU time is the work itself, so both are shown.
    """
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0, None
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def run_rounds(mode: Mode, rounds: int, device: torch.device) -> tuple[float, float | None, float]:
    """(images/s by wall clock, images/s by CPU time or None, accuracy) of `rounds` global rounds
    of `mode` from a fresh model."""
    cfg, fed = mode.cfg, mode.fed
    state = init_state(cfg, device)
    station_update(state, fed.stations[0], cfg, 0, 0)  # warm-up: first-call costs, allocator, cuDNN
    box = {"state": state}

    def work() -> None:
        for r in range(rounds):
            box["state"] = cloud_aggregate([station_update(box["state"], clients, cfg, r, j)
                                            for j, clients in enumerate(fed.stations)])

    wall, cpu = _timed(device, work)
    images = rounds * sum(images_per_station_update(clients, cfg) for clients in fed.stations)
    return images / wall, (images / cpu if cpu else None), evaluate(box["state"], fed.test, cfg)


def build_modes(cfg: TrainConfig, device: torch.device) -> list[Mode]:
    fed = build_federation(cfg, device)
    x = torch.cat([c[0] for station in fed.stations for c in station])
    y = torch.cat([c[1] for station in fed.stations for c in station])
    central_cfg = cfg.replace(n_stations=1, clients_per_station=1, kappa1=cfg.kappa1 * cfg.kappa2, kappa2=1,
                              vectorize=False, shuffled_label_stations=())
    central = Federation(fed.info, (((x, y),),), fed.test, fed.labels)
    modes = [Mode("centralized", central_cfg, central, True)]
    vmappable = not has_buffers(model_for(cfg, device))
    if cfg.vectorize is None and vmappable:
        default_vmap = device.type == "cuda"
        modes.append(Mode("hierarchical (loop)", cfg.replace(vectorize=False), fed, not default_vmap))
        modes.append(Mode("hierarchical (vmap)", cfg.replace(vectorize=True), fed, default_vmap))
    else:
        modes.append(Mode("hierarchical", cfg, fed, True))
    return modes


def benchmark(cfg: TrainConfig, *, rounds: int, runs: int) -> list[Measurement]:
    device = resolve_device(cfg)
    modes = build_modes(cfg, device)
    rates: dict[str, list[float]] = {m.name: [] for m in modes}
    cpu_rates: dict[str, list[float]] = {m.name: [] for m in modes}
    acc: dict[str, float] = {}
    for _ in range(runs):
        for m in modes:
            rate, cpu_rate, acc[m.name] = run_rounds(m, rounds, device)
            rates[m.name].append(rate)
            if cpu_rate is not None:
                cpu_rates[m.name].append(cpu_rate)
    return [Measurement(m.name, tuple(rates[m.name]), tuple(cpu_rates[m.name]), acc[m.name], m.default)
            for m in modes]


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} torch thread(s) (torch {torch.__version__})"


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    d = TrainConfig()
    p = OneLineParser(prog="python -m benchmarks.hfl", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--model", default="cnn", help="cnn, resnet18 or resnet50")
    p.add_argument("--dataset", default="digits",
                   help="digits, cifar10 (from --data-dir or $HCFL_CIFAR10_DIR) or fake-cifar10 (generated)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--fake-size", type=int, default=10_000, help="training images of fake-cifar10")
    p.add_argument("--max-train-samples", type=int, default=None, help="cap on training images")
    p.add_argument("--stations", type=int, default=d.n_stations)
    p.add_argument("--clients-per-station", type=int, default=d.clients_per_station)
    p.add_argument("--alpha", type=float, default=d.alpha)
    p.add_argument("--iid", action="store_true")
    p.add_argument("--kappa1", type=int, default=d.kappa1)
    p.add_argument("--kappa2", type=int, default=d.kappa2)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--rounds", type=int, default=2, help="timed global rounds per run")
    p.add_argument("--runs", type=int, default=3, help="repetitions (modes interleaved)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default as in python -m hfl)")
    p.add_argument("--json", default=None, help="also write the measurements to this file")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.runs < 1:
        p.error("--rounds and --runs must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        dataset, data_dir = args.dataset, args.data_dir
        if dataset == "fake-cifar10":
            dataset, data_dir = "cifar10", str(write_fake_cifar10(tmp, n_train=args.fake_size, n_test=1000))
        try:
            cfg = TrainConfig(model=args.model, dataset=dataset, data_dir=data_dir, device=args.device,
                              n_stations=args.stations, clients_per_station=args.clients_per_station,
                              alpha=args.alpha, iid=args.iid, kappa1=args.kappa1, kappa2=args.kappa2,
                              batch_size=args.batch_size, max_train_samples=args.max_train_samples)
            device = resolve_device(cfg)
            torch.set_num_threads(args.threads or default_threads(cfg, device))
            results = benchmark(cfg, rounds=args.rounds, runs=args.runs)
        except ConfigError as exc:
            p.error(f"--{exc.field.replace('_', '-')}: {exc.message}")
    print_table(cfg, device, results, rounds=args.rounds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"hardware": hardware(device), "config": cfg.to_dict(), "rounds": args.rounds,
                       "results": [{"mode": r.name, "images_per_s": list(r.rates), "mean": r.mean, "std": r.std,
                                    "cpu_time_images_per_s": list(r.cpu_rates),
                                    "cpu_time_mean": r.cpu_mean if r.cpu_rates else None,
                                    "accuracy": r.accuracy, "default": r.default} for r in results]}, f, indent=2)
    return 0


def print_table(cfg: TrainConfig, device: torch.device, results: list[Measurement], *, rounds: int) -> None:
    from rich.console import Console
    from rich.table import Table

    central = results[0].mean
    on_cpu = bool(results[0].cpu_rates)
    table = Table(title=f"hfl throughput: {cfg.model} on {cfg.dataset}, {cfg.n_stations} stations x "
                        f"{cfg.clients_per_station} clients, {'IID' if cfg.iid else f'Dirichlet({cfg.alpha:g})'}, "
                        f"kappa1={cfg.kappa1} kappa2={cfg.kappa2}, batch {cfg.batch_size}")
    cols = ["mode", "img/s (wall)", "std", "x central"]
    if on_cpu:
        cols += ["img/s (CPU time)", "x central (CPU)"]
    cols += ["runs", "accuracy"]
    for col in cols:
        table.add_column(col, justify="left" if col == "mode" else "right", no_wrap=col == "mode")
    for r in results:
        row = [r.name + (" *" if r.default and r.name != "centralized" else ""), f"{r.mean:,.0f}", f"{r.std:,.0f}",
               f"{r.mean / central:.2f}x"]
        if on_cpu:
            row += [f"{r.cpu_mean:,.0f}", f"{r.cpu_mean / results[0].cpu_mean:.2f}x"]
        table.add_row(*row, str(len(r.rates)), f"{100 * r.accuracy:.1f}%")
    console = Console(width=max(110, Console().width))
    console.print(table)
    default = next(r for r in results[1:] if r.default)
    ratio = f"[bold]{default.mean / central:.2f}x[/bold] by the wall clock"
    if on_cpu:
        ratio += f", [bold]{default.cpu_mean / results[0].cpu_mean:.2f}x[/bold] by CPU time"
    console.print(f"device: {device} = {hardware(device)}; {rounds} timed global round(s) per run, modes "
                  f"interleaved; images/s is the mean over runs.\n"
                  f"* the path python -m hfl takes: hierarchical / centralized = {ratio} (target >= 0.70x)")


if __name__ == "__main__":
    sys.exit(main())
