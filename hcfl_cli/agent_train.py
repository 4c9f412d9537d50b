"""The agent's machine-learning side: the winner's training, a station's Flower node, an
owner's own evaluation. Nothing here is imported until an agent trains or evaluates, and
torch and Flower are imported inside the functions, so an agent that only bids stays light.

- ``prepare_superlink``: at proposal time, the owner's TLS files and fleet address, which its
  description document names (the stations check the CA certificate's hash).
- ``ReadySuperLink``: a proposer's SuperLink, started while the claims are revealed, and its
  ``train``: the proposal's HierFAVG job on Flower's deployment engine through
  ``hfl.flower.secure`` (TLS, SuperNode authentication with exactly the registered stations'
  node keys, each Flower node mapped to its station index, a station lost mid-training
  dropped from the later global rounds), written to a model file.
- ``start_station``: a station's authenticated SuperNode on its own data folder.
- ``measure``: an owner's accuracy of a published model on its own held-out set.
"""

from __future__ import annotations

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


MODEL_AND_DATA = ("n_stations", "target_labels", "model", "model_plugin", "dataset", "classes", "image_shape",
                  "data_dir")


def train_config(doc: Description, n_stations: int, *, data_dir: str | None = None) -> Any:
    """The ``hfl.TrainConfig`` of a description document's job with ``n_stations`` stations: its
    model (and plugin), its data's name, classes and image shape, its other training fields."""
    from hfl.config import TrainConfig, data_fields
    from hfl.proposals import plugin_requirement

    fields = {k: v for k, v in doc.train.items() if k not in MODEL_AND_DATA}
    data = {"dataset": doc.dataset}
    if doc.classes and doc.input:
        shape = (int(doc.input["channels"]), int(doc.input["height"]), int(doc.input["width"]))
        data = data_fields(doc.dataset, doc.classes, shape)
    extra = {"data_dir": data_dir} if data_dir else {}
    return TrainConfig(model=doc.model, model_plugin=plugin_requirement(doc.plugin), **data,
                       target_labels=tuple(doc.target_labels), global_rounds=doc.global_rounds, n_stations=n_stations,
                       **{**fields, **extra})


def describe_proposal(model: str, dataset: str | None, labels: tuple[int | str, ...],
                      data_folder: Path | None, param_count: int = 0) -> dict[str, Any]:
    """What an owner's description document says of the model and data it proposes, from its own
    held-out folder: the data's name, classes and input, the plugin, the parameter count (counted
    unless given) and the target labels (given by class name or index) as indices. Imports no
    torch for the small CNN with a given parameter count."""
    from hfl.config import resolve_labels
    from hfl.proposals import MAX_LABELS, describe_job

    spec = describe_job(model, data_folder, dataset=dataset, param_count=param_count or None)
    targets = tuple(sorted(set(resolve_labels(list(labels), spec.classes))))
    if max(targets) >= MAX_LABELS:
        raise ValueError(f"proposal.labels: the contract's label set holds labels 0..{MAX_LABELS - 1}")
    return {"dataset": spec.dataset, "classes": spec.classes, "input": spec.input, "plugin": spec.plugin_fields(),
            "param_count": spec.param_count, "labels": targets}


def cannot_use(doc: Description, data_folder: Path | None, role: str) -> str | None:
    """Why this participant cannot train (a station) or judge (an owner) the proposal ``doc`` with its
    own data folder: a model it cannot build (an unknown name, a plugin it did not install, in
    that version), data that does not fit; None when it can. Imports no torch for the small CNN or
    a plugin (``hfl.proposals``)."""
    from hfl.config import ConfigError
    from hfl.proposals import cannot_take_part

    try:
        cfg = train_config(doc, 1)
    except ConfigError as e:
        return e.message
    return cannot_take_part(cfg, data_folder, "train" if role == "station" else "test")


def prepare_superlink(folder: Path, host: str) -> dict[str, str]:
    """TLS files in ``folder`` for ``host`` (made once, kept for a restart) and a free fleet
    port: what the description document says of this owner's SuperLink."""
    from hfl.flower.secure import make_tls, pick_port

    folder.mkdir(parents=True, exist_ok=True)
    tls = make_tls(folder, host)
    port_file = folder / "fleet-port"
    if not port_file.exists():
        port_file.write_text(f"{pick_port(host)}\n")
    port = int(port_file.read_text())
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {"fleet_address": address, "ca_sha256": tls.ca_sha256, "ca_cert": str(tls.ca_cert)}


class ReadySuperLink:
    """A proposer's SuperLink, started in a thread before the round is closed (its stations
    are known once registration closed), so that the winner's training starts at once;
    a proposer that did not win stops it. ``train`` runs the job on it."""

    def __init__(self, stations: Mapping[int, bytes], *, tls_folder: Path, host: str, bind: str,
                 work: Path) -> None:
        import threading

        from hfl.flower.secure import SecureSuperLink, make_tls

        self.stations = dict(stations)
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        tls = make_tls(tls_folder, host)
        port = int((tls_folder / "fleet-port").read_text())
        self.link = SecureSuperLink(tls, self.stations, work / "superlink", work / "flower-logs", fleet_port=port,
                                    host=bind, advertise=host)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, daemon=True, name="hcfl-superlink")
        self._thread.start()

    def _start(self) -> None:
        try:
            self.link.start()
        except BaseException as e:  # noqa: BLE001 (reported by train)
            self.error = e

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def train(self, doc: Description, *, eval_folder: Path | None, timeout_s: float, round_timeout_s: float,
              progress: Callable[[str], None]) -> Trained:
        """Wait for the SuperLink, run the winning proposal's job (``doc``) on the registered
        stations, write the model file; the SuperLink is stopped after."""
        from hfl.local_data import save_model

        try:
            self._thread.join()
            if self.error is not None:
                raise RuntimeError(f"the SuperLink did not start: {self.error}")
            link = self.link
            progress(f"SuperLink up at {link.fleet_address} (TLS, SuperNode authentication): registered the node "
                     f"keys of stations {sorted(self.stations)} as Flower nodes "
                     f"{[link.node_ids[j] for j in sorted(self.stations)]}")

            def on_round(r: int, rounds: int, accuracy: float) -> None:
                progress(f"training: global round {r}/{rounds}, accuracy {accuracy:.1%} on my own held-out set")

            cfg = train_config(doc, len(self.stations))
            result = link.run(cfg, timeout_s=timeout_s, round_timeout_s=round_timeout_s, progress=on_round,
                              eval_folder=eval_folder)
        finally:
            self.stop()
        model = self.work / "model.pt"
        digest = save_model(model, result.final_state, cfg)
        return Trained(model, digest, float(result.final_accuracy), tuple(int(c) for c in result.contributions),
                       tuple(sorted(int(j) for j in (getattr(result, "dropped", ()) or ()))), "flower",
                       tuple(float(a) for a in result.accuracy))

    def stop(self) -> None:
        self._thread.join(timeout=120)
        self.link.stop()


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
