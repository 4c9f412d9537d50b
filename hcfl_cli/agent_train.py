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
- ``FlowerRole``: an agent's Flower processes across its round (SuperLink, training, SuperNode);
  ``ensure_node_keys`` a station's node key pair.
"""

from __future__ import annotations

import contextlib
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


def describe_job_fields(model: str, dataset: str | None, labels: tuple[int | str, ...],
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


def describe_proposal(cfg: Any, plan: Any, round_id: int, proposer: str, publish: Callable[[Path], str],
                      job: dict[str, Any] | None = None) -> tuple[Description, Path]:
    """An owner's description document of its proposal ``plan`` (an
    ``agent_config.ProposalPlan``) for round ``round_id``, written once into its public folder
    (``agent_proposals.document_path``): the model, data and job (``job``, from
    ``describe_job_fields``, which the agent runs in a thread ahead of the Propose phase;
    described here when not given), the parameter count and its SuperLink (fleet address and
    the sha256 and URI, by ``publish``, of its TLS CA certificate). A restart writes nothing
    new, so ``propose`` finds the same hash on chain."""
    from hcfl_cli.agent_proposals import document_path

    path = document_path(cfg.work, round_id, plan.name)
    if path.exists():  # a restart proposes the same document (propose checks its hash on chain)
        return Description.from_bytes(path.read_bytes(), f"proposal {plan.name}'s document"), path
    p = plan
    if job is None:
        job = describe_job_fields(p.model, p.dataset, p.labels, cfg.data, p.param_count)
    info = prepare_superlink(cfg.flower / "tls", cfg.fleet_host)
    ca = cfg.work / "public" / "ca.pem"
    ca.parent.mkdir(parents=True, exist_ok=True)
    ca.write_bytes(Path(info["ca_cert"]).read_bytes())
    superlink = {"fleet_address": info["fleet_address"], "ca_sha256": info["ca_sha256"], "ca_uri": publish(ca)}
    doc = Description(p.model, job["dataset"], job["labels"], p.accuracy_bps, p.global_rounds, job["param_count"],
                      dict(p.train), superlink, proposer, job["classes"], job["input"], job["plugin"])
    path.write_bytes(doc.to_bytes())
    return doc, path


def ensure_node_keys(folder: Path) -> Path:
    """A station's Flower node key pair in ``folder``, made once; returns ``node.pub``, the
    public key bytes it publishes at registration (its ticket's node key is their sha256)."""
    pub = folder / "node.pub"
    if not pub.exists():
        node_keys(folder)  # writes node.key (0600) and node.pub
    return pub


class FlowerRole:
    """One agent's Flower processes in one round: a proposer's SuperLink (started once the
    claims are sealed, so that should its proposal win the training starts at once), the
    winner's training, a station's SuperNode on its own data; ``stop`` ends them all. An
    agent makes a new one for every round; their working folders are the round's own
    (``flower-rounds/round{r}``), and those of earlier rounds are removed (``prune``).

    ``say``/``say_once``: the agent's printed lines; ``document(view, index)``: a proposal's
    description document and its file, fetched and checked against the chain."""

    def __init__(self, cfg: Any, *, say: Callable[[str], None], say_once: Callable[[str], None],
                 document: Callable[[Any, int], tuple[Description, Path]], round_id: int = 0) -> None:
        self.cfg = cfg
        self.work: Path = cfg.work
        self.round_id = round_id
        self.flower_work = cfg.work / "flower-rounds" / f"round{round_id}"
        self.say = say
        self.say_once = say_once
        self.document = document
        self.link: ReadySuperLink | None = None
        self.station_node: Any = None
        self.failed = False
        self._warming: Any = None

    def stations(self, v: Any) -> dict[int, bytes]:
        """The round's registered stations' node public keys, by station index, each checked
        against the node key of its ticket (which the contract checked at registration)."""
        out = {}
        for m in v.stations:
            if not m.node_key_matches:
                self.say_once(f"station {m.index}: its published node key does not match its ticket's: left out")
                continue
            out[m.index] = m.registered.node_public_key
        return out

    def prepare_link(self, v: Any, address: str) -> ReadySuperLink | None:
        """A proposer's SuperLink, started (in a thread) once the claims are sealed; None for
        a non-proposer."""
        if self.link is not None:
            return self.link
        mine = [p.index for p in v.proposals_of(address)]
        if not mine:
            return None
        self.link = ReadySuperLink(self.stations(v), tls_folder=self.cfg.flower / "tls", host=self.cfg.fleet_host,
                                   bind=self.cfg.fleet_bind, work=self.flower_work / "training")
        self.say(f"starting my SuperLink while the claims are revealed (should proposal {mine[0]} win)")
        return self.link

    def stop_link(self) -> None:
        if self.link is not None:
            link, self.link = self.link, None
            with contextlib.suppress(Exception):
                link.stop()
            self.say("my proposal did not win: SuperLink stopped")

    def start_station(self, v: Any) -> bool:
        """This station's SuperNode for the winner's SuperLink (once)."""
        from hcfl_cli.documents import fetch

        if self.station_node is not None:
            if self.station_node.poll() is not None:
                self.say_once(f"my SuperNode exited with code {self.station_node.poll()}")
            return False
        assert v.winner is not None
        doc, _ = self.document(v, v.winner)
        if not doc.superlink:
            raise ValueError("proposal: the winning description document names no SuperLink")
        if self.cfg.data is None:
            raise ValueError("data: a station needs its data folder")
        ca = self.work / "documents" / f"round{v.round_id}-ca.pem"
        fetch(doc.superlink["ca_uri"], doc.superlink["ca_sha256"], ca, what="the winner's CA certificate")
        self.say(f"starting this station's SuperNode on {self.cfg.data} for {doc.superlink['fleet_address']}")
        self.station_node = start_station(doc, keys_folder=self.cfg.flower, data_folder=self.cfg.data,
                                          work=self.flower_work / "station", ca_cert=ca)
        return True

    def stop_station(self) -> None:
        if self.station_node is not None:
            with contextlib.suppress(Exception):
                self.station_node.stop()
            self.station_node = None
            self.say("SuperNode stopped")

    def warm_up(self) -> None:
        """An owner that will judge the model loads torch while the winner trains, so that
        its measurement fits in the Vote phase."""
        if self._warming is None:
            import threading

            def load() -> None:
                with contextlib.suppress(Exception):
                    import hfl.local_data  # noqa: F401 (imports torch)

            self._warming = threading.Thread(target=load, daemon=True, name="hcfl-warm-up")
            self._warming.start()

    def train(self, v: Any, address: str) -> Trained | None:
        """The winner's training of its proposal on Flower with the registered stations, its
        model in the agent's public folder; what an earlier run trained before a restart;
        None when it failed (said once: the bond is lost at the deadline)."""
        import json
        from dataclasses import asdict

        assert v.winner is not None
        doc, _ = self.document(v, v.winner)
        state_file = self.work / f"trained-round{v.round_id}.json"
        if state_file.exists():  # trained before a restart: report what was trained
            t = json.loads(state_file.read_text())
            return Trained(Path(t["model"]), t["sha256"], float(t["accuracy"]), tuple(t["contributions"]),
                           tuple(t["dropped"]), t["engine"])
        left = max(10.0, v.deadline - v.now - 5.0)
        timeout = min(left, self.cfg.train_timeout_s) if self.cfg.train_timeout_s else left
        if not doc.superlink:
            raise ValueError("proposal: the winning description document names no SuperLink")
        if self.failed:
            return None
        stations = self.stations(v)
        self.say(f"training proposal {v.winner} on Flower with the registered stations {sorted(stations)}: "
                 f"{doc.global_rounds} global rounds, labels {list(doc.target_labels)}")
        try:
            link = self.prepare_link(v, address)
            assert link is not None
            self.link = None
            trained = link.train(doc, eval_folder=self.cfg.data, timeout_s=timeout,
                                 round_timeout_s=self.cfg.round_timeout_s, progress=self.say)
        except (RuntimeError, ValueError, OSError) as e:  # FlowerRunError, no station left, ...
            self.failed = True
            self.say(f"training failed, nothing to report (the bond is lost at the deadline): {e}")
            return None
        public = self.work / "public" / f"model-round{v.round_id}.pt"
        public.parent.mkdir(parents=True, exist_ok=True)
        public.write_bytes(trained.model.read_bytes())
        trained = Trained(public, trained.sha256, trained.accuracy, trained.contributions, trained.dropped,
                          trained.engine)
        state_file.write_text(json.dumps({**asdict(trained), "model": str(public)}))
        return trained

    def stop(self) -> None:
        self.stop_station()
        if self.link is not None:
            with contextlib.suppress(Exception):
                self.link.stop()
            self.link = None

    def prune(self) -> None:
        """Remove the Flower working folders (state, logs) of the rounds before the last one."""
        import shutil

        for old in (self.work / "flower-rounds").glob("round*"):
            if old.name[5:].isdigit() and int(old.name[5:]) < self.round_id - 1:
                shutil.rmtree(old, ignore_errors=True)
