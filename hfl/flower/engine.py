"""`run_flower(cfg, engine, out_dir)`: the hierarchical training on one of Flower's two engines.

- `flower-sim`: Flower's Simulation Engine (`flwr.simulation.run_simulation`, Ray backend) in
  this process tree: the ServerApp runs in a thread of this process, the stations' ClientApps in
  Ray actors (one CPU each).
- `flower-deploy`: Flower's Deployment Engine on loopback: a SuperLink and one SuperNode per
  station as separate processes, the run submitted with `flwr run` (see `hfl.flower.deploy`).

Both return the `TrainResult` of `hfl.train.train` and write the same `result.json` (with
`hfl.result.write_result`); `wall_s` is the whole call, engine start-up included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from typing import TYPE_CHECKING

from hfl.config import ConfigError, TrainConfig
from hfl.flower.deploy import (FlowerRunError, LocalDeployment, base_env, submit, wait_for_result, write_app,
                               write_connection)
from hfl.flower.procs import ProcessGroup
from hfl.flower.protocol import RESULT_PATH_KEY, ROUND_TIMEOUT_KEY, RUN_CONFIG_KEY, THREADS_KEY, config_to_json

if TYPE_CHECKING:  # torch, flwr and the training code load only where needed (see run_deployment_engine)
    from hfl.result import TrainResult

ENGINES = ("flower-sim", "flower-deploy")
RAY_MISSING = ("the flower-sim engine needs Ray (Flower's simulation backend): install the pinned `ray` of "
               "requirements.lock (`pip install -r requirements.lock`)")


def _quiet_flower(verbose: bool) -> None:
    """Flower logs every message at INFO; keep warnings and errors unless asked for more."""
    logging.getLogger("flwr").setLevel(logging.INFO if verbose else logging.WARNING)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while nodes run, so that cleanup runs on `kill` too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_simulation_engine(cfg: TrainConfig, *, round_timeout_s: float = 3600.0, verbose: bool = False,
                          threads: int = 0) -> TrainResult:
    """The job on Flower's Simulation Engine: `cfg.n_stations` virtual SuperNodes, Ray actors."""
    if importlib.util.find_spec("ray") is None:
        raise FlowerRunError(RAY_MISSING)
    import torch
    from flwr.simulation import run_simulation

    from hfl.flower.apps import client_app, make_server_app

    _quiet_flower(verbose)
    sink: list[TrainResult] = []
    cpus = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    gpus = 1.0 / cfg.n_stations if torch.cuda.is_available() and cfg.device != "cpu" else 0.0
    # Ray's session files go to a folder of ours, removed afterwards (its default /tmp/ray keeps them).
    ray_dir = tempfile.mkdtemp(prefix="hcfl-ray-")
    backend_config = {
        "client_resources": {"num_cpus": 1, "num_gpus": gpus},
        "init_args": {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": verbose,
                      "logging_level": "INFO" if verbose else "WARNING", "_temp_dir": ray_dir},
    }
    # Flower's Ray backend rewrites PYTHONPATH for its workers; keep this process's as it was.
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO")}
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    try:
        run_simulation(server_app=make_server_app(cfg, sink, round_timeout_s=round_timeout_s, threads=threads), client_app=client_app,
                       num_supernodes=cfg.n_stations, backend_config=backend_config, verbose_logging=verbose)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if not sink:
        raise FlowerRunError("the Flower simulation ended without a result (see the log above)")
    return sink[0]


def _app_config(cfg: TrainConfig, result_path: Path, round_timeout_s: float,
                threads: int = 0) -> dict[str, str | float | int]:
    return {RUN_CONFIG_KEY: config_to_json(cfg), RESULT_PATH_KEY: str(result_path),
            ROUND_TIMEOUT_KEY: float(round_timeout_s), THREADS_KEY: int(threads)}


def run_deployment_engine(cfg: TrainConfig, log_dir: Path, *, timeout_s: float = 1800.0,
                          round_timeout_s: float = 600.0, superlink: str | None = None,
                          root_certificates: str | None = None, threads: int = 0) -> TrainResult:
    """The job on Flower's Deployment Engine.

    Without `superlink`: a SuperLink and one SuperNode per station on 127.0.0.1, all stopped when
    this returns or raises (Ctrl-C and SIGTERM included). With `superlink` (host:port of a running
    SuperLink whose SuperNodes serve stations 0..n-1): only the run is submitted there; call it
    on the SuperLink's machine, where the ServerApp writes the result (docs/flower.md). TLS is on
    when `root_certificates` (the CA's PEM file) is given, off otherwise.
    """
    work = Path(tempfile.mkdtemp(prefix="hcfl-flower-"))
    try:
        result_path = work / "result.pt"
        app_dir = write_app(work / "app", _app_config(cfg, result_path, round_timeout_s, threads))
        with _sigterm_as_interrupt():
            if superlink is None:
                with LocalDeployment(cfg.n_stations, work, log_dir) as deployment:
                    deployment.start()
                    deployment.wait(deployment.submit(app_dir), result_path, timeout_s)
            else:
                flwr_home = work / "flwr-home"
                write_connection(flwr_home, superlink, insecure=root_certificates is None,
                                 root_certificates=str(Path(root_certificates).resolve()) if root_certificates else None)
                with ProcessGroup(base_env(flwr_home)) as group:
                    wait_for_result(group, submit(group, app_dir, work, log_dir), result_path, timeout_s)
        import torch  # only now: the federation was started without waiting for torch to import

        return torch.load(result_path, weights_only=False)  # written by our own ServerApp
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_flower(cfg: TrainConfig, engine: str, out_dir: str | Path | None = None, *, timeout_s: float = 1800.0,
               round_timeout_s: float = 600.0, verbose: bool = False, plot: bool = True,
               superlink: str | None = None, root_certificates: str | None = None,
               threads: int | None = None) -> TrainResult:
    """Train `cfg` on Flower's `engine` (`flower-sim` or `flower-deploy`); write `out_dir/result.json`.

    The result equals `hfl.train.train(cfg)`'s up to floating-point noise (same seeds, same
    functions); `wall_s` covers the whole call, engine start-up included. Deployment logs go to
    `out_dir/flower-logs/` (a temporary folder when `out_dir` is None). `superlink` and
    `root_certificates` submit a `flower-deploy` run to an existing SuperLink instead of starting
    one (see `run_deployment_engine`). `threads` sets torch's CPU threads on the owner and every
    station (None: `hfl.train.default_threads`, one for the small CNN on the CPU).
    """
    if engine not in ENGINES:
        raise ConfigError("engine", f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if threads is not None and threads < 1:
        raise ConfigError("threads", f"must be >= 1, got {threads}")
    if timeout_s <= 0:
        raise ConfigError("timeout", f"must be > 0 seconds, got {timeout_s!r}")
    t0 = time.perf_counter()
    if superlink is not None and engine != "flower-deploy":
        raise ConfigError("superlink", "an existing SuperLink is only used by the flower-deploy engine")
    if engine == "flower-sim":
        result = run_simulation_engine(cfg, round_timeout_s=round_timeout_s, verbose=verbose, threads=threads or 0)
    else:
        log_root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="hcfl-flower-logs-"))
        result = run_deployment_engine(cfg, log_root / "flower-logs", timeout_s=timeout_s,
                                       round_timeout_s=round_timeout_s, superlink=superlink,
                                       root_certificates=root_certificates, threads=threads or 0)
    result = dataclasses.replace(result, wall_s=time.perf_counter() - t0)
    if out_dir is not None:
        from hfl.result import write_result

        write_result(result, out_dir, plot=plot)
    return result


__all__ = ["ENGINES", "FlowerRunError", "run_deployment_engine", "run_flower", "run_simulation_engine"]
