"""The agent's machine-learning side: the winner's training, a station's Flower node, an
owner's own evaluation. Nothing here is imported until an agent trains or evaluates, and
torch and Flower are imported inside the functions, so an agent that only bids stays light.

- ``prepare_superlink``: at proposal time, the owner's TLS files and fleet address, which its
  description document names (the stations check the CA certificate's hash).
- ``train_winner``: the proposal's HierFAVG job, written to a model file; on Flower's
  deployment engine through ``hfl.flower.secure`` (TLS, SuperNode authentication with exactly
  the registered stations' node keys, each Flower node mapped to its station index, a station
  lost mid-training dropped from the later global rounds).
- ``start_station``: a station's authenticated SuperNode on its own data folder.
- ``measure``: an owner's accuracy of a published model on its own held-out set.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcfl_cli.documents import Description


@dataclass(frozen=True)
class Trained:
    """What the winner's training produced and will report."""

    model: Path
    sha256: str
    accuracy: float  # on the winner's own evaluation set, target labels
    contributions: tuple[int, ...]  # one per registered station, in registration order
    dropped: tuple[int, ...] = ()  # stations lost mid-training
    engine: str = "flower"
    rounds_accuracy: tuple[float, ...] = field(default=())


def flower_available() -> bool:
    """Whether the secure Flower deployment (``hfl.flower.secure``) is in this checkout."""
    try:
        return importlib.util.find_spec("hfl.flower.secure") is not None
    except ModuleNotFoundError:
        return False


def train_config(doc: Description, n_stations: int, *, data_dir: str | None = None) -> Any:
    """The ``hfl.TrainConfig`` of a description document's job with ``n_stations`` stations."""
    from hfl.config import TrainConfig

    fields = {k: v for k, v in doc.train.items() if k not in ("n_stations", "target_labels", "model", "dataset")}
    extra = {"data_dir": data_dir} if data_dir and doc.dataset == "cifar10" else {}
    return TrainConfig(model=doc.model, dataset=doc.dataset, target_labels=tuple(doc.target_labels),
                       global_rounds=doc.global_rounds, n_stations=n_stations, **{**fields, **extra})


def prepare_superlink(folder: Path, host: str) -> dict[str, str]:
    """TLS files in ``folder`` (made once, kept for a restart) and a free fleet port on
    ``host``: what the description document says of this owner's SuperLink."""
    from hfl.flower.secure import make_tls, pick_port

    folder.mkdir(parents=True, exist_ok=True)
    tls = make_tls(folder, host)
    port_file = folder / "fleet-port"
    if not port_file.exists():
        port_file.write_text(f"{pick_port(host)}\n")
    port = int(port_file.read_text())
    return {"fleet_address": f"{host}:{port}", "ca_sha256": tls.ca_sha256, "ca_cert": str(tls.ca_cert)}


def train_winner(doc: Description, stations: Mapping[int, bytes], n_stations: int, *, tls_folder: Path,
                 host: str, work: Path, eval_folder: Path | None, timeout_s: float,
                 progress: Callable[[str], None]) -> Trained:
    """Run the proposal's job with the registered stations (``stations``: index -> node
    public key bytes) on the secure Flower deployment, and write the model file."""
    from hfl.flower.secure import SecureSuperLink, make_tls
    from hfl.local_data import save_model

    cfg = train_config(doc, n_stations)
    tls = make_tls(tls_folder, host)
    port = int((tls_folder / "fleet-port").read_text())
    work.mkdir(parents=True, exist_ok=True)
    link = SecureSuperLink(tls, dict(stations), work / "superlink", work / "flower-logs", fleet_port=port)

    def on_round(rep: Any) -> None:
        progress(f"training: global round {rep.round_idx + 1}/{rep.global_rounds}, accuracy {rep.accuracy:.1%}")

    link.start()
    try:
        progress(f"SuperLink up at {link.fleet_address}, accepting the node keys of stations {sorted(stations)}")
        result = link.run(cfg, timeout_s=timeout_s, round_timeout_s=max(30.0, timeout_s / max(1, cfg.global_rounds)),
                          progress=on_round, eval_folder=eval_folder)
    finally:
        link.stop()
    model = work / "model.pt"
    digest = save_model(model, result.final_state, cfg)
    return Trained(model, digest, float(result.final_accuracy), tuple(int(c) for c in result.contributions),
                   tuple(sorted(getattr(result, "dropped", ()) or ())), "flower", tuple(result.accuracy))


def train_in_process(doc: Description, n_stations: int, *, work: Path,
                     progress: Callable[[str], None]) -> Trained:
    """The same job in this process (``hfl.train``), every station's data rebuilt from the
    job's seed: what ``hcfl round`` does; an agent uses it only where Flower's secure
    deployment is not installed."""
    from hfl.local_data import save_model
    from hfl.train import train

    cfg = train_config(doc, n_stations)

    def on_round(rep: Any) -> None:
        progress(f"training: global round {rep.round_idx + 1}/{rep.global_rounds}, accuracy {rep.accuracy:.1%}")

    result = train(cfg, progress=on_round)
    work.mkdir(parents=True, exist_ok=True)
    model = work / "model.pt"
    digest = save_model(model, result.final_state, cfg)
    return Trained(model, digest, float(result.final_accuracy), tuple(int(c) for c in result.contributions), (),
                   "in-process", tuple(result.accuracy))


def node_keys(folder: Path) -> Any:
    """A station's Flower node key pair (P-384), made once in ``folder``."""
    from hfl.flower.secure import make_node_keys

    return make_node_keys(folder)


def start_station(doc: Description, *, keys_folder: Path, data_folder: Path, work: Path, ca_cert: Path,
                  threads: int = 1) -> Any:
    """This station's authenticated SuperNode on its own data, connected to the winner's
    SuperLink named in ``doc`` (its CA certificate's hash checked); ``.stop()`` ends it."""
    from hfl.flower.secure import start_supernode

    return start_supernode(doc.superlink["fleet_address"], ca_cert, doc.superlink["ca_sha256"],
                           node_keys(keys_folder), data_folder, work / "supernode", work / "flower-logs",
                           threads=threads)


def measure(model: Path, data_folder: Path, labels: tuple[int, ...]) -> float:
    """This owner's accuracy of ``model`` on its own held-out set, on ``labels``."""
    from hfl.local_data import evaluate_model_file

    return float(evaluate_model_file(model, data_folder, list(labels), device="cpu"))
