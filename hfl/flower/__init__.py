"""The hierarchical training on Flower (flwr 1.42): base stations as Flower nodes, the owner's ServerApp.

- `run_flower(cfg, engine, out_dir) -> TrainResult` with `engine` one of `ENGINES`
  (`flower-sim`: Flower's simulation engine; `flower-deploy`: a SuperLink and one SuperNode per
  station as processes on loopback, or a running SuperLink); it writes the same `result.json` as
  the in-process trainer.
- `hfl.flower.apps`: the ClientApp (one station's edge rounds with `hfl.train.station_update`)
  and the ServerApp (`HierFedAvg`: Flower's FedAvg with `hfl`'s cloud aggregation, evaluation and
  contribution measurement).
- `hfl.flower.deploy` / `hfl.flower.procs`: the local deployment and its process hygiene.
- `hfl.flower.secure`: the authenticated deployment of a real round (TLS, SuperNode
  authentication with exactly the registered stations' keys, each station on its own data
  folder, lost stations dropped): `SecureSuperLink`, `start_supernode`, `make_node_keys`,
  `make_tls`, `pick_port`; `python -m hfl.flower.secure_local` runs it on one machine.
- `python -m hfl.flower --help`: the command line; docs/flower.md: multi-machine set-up and TLS.

Submodules import flwr and torch lazily, so that `python -m hfl.flower --help` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "ENGINES": "hfl.flower.engine",
    "run_flower": "hfl.flower.engine",
    "FlowerRunError": "hfl.flower.deploy",
    "LocalDeployment": "hfl.flower.deploy",
    "StationFailure": "hfl.flower.apps",
    "NodeKeys": "hfl.flower.secure",
    "SecureSuperLink": "hfl.flower.secure",
    "TlsFiles": "hfl.flower.secure",
    "make_node_keys": "hfl.flower.secure",
    "make_tls": "hfl.flower.secure",
    "pick_port": "hfl.flower.secure",
    "start_supernode": "hfl.flower.secure",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENGINES", "FlowerRunError", "LocalDeployment", "NodeKeys", "SecureSuperLink", "StationFailure", "TlsFiles",
           "make_node_keys", "make_tls", "pick_port", "run_flower", "start_supernode"]
