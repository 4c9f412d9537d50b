"""The Flower app of the hierarchical training: a ClientApp per base station, the owner's ServerApp.

HierFAVG (Liu et al. 2020, "Client-Edge-Cloud Hierarchical Federated Learning") mapped onto
Flower's Message API:

- Each base station is a Flower node. Its `ClientApp` (`client_app`) receives the global model
  and the job's `TrainConfig` in a train message, rebuilds its own clients' partitions (a
  function of the config's seed, so every node agrees with the in-process trainer), runs the
  station's `kappa2` edge rounds with `hfl.train.station_update` and replies with the station's
  model and its sample count. Which station a node is comes from its node config: `station=j`
  (deployment: `flower-supernode --node-config 'station=0'`), else Flower's `partition-id`
  (the simulation engine numbers its virtual nodes 0..n-1).
- The owner's `ServerApp` runs the global rounds with `HierFedAvg`, a Flower `FedAvg` whose
  cloud aggregation is `hfl.aggregate.cloud_aggregate` (no averaging code of ours here), evaluates
  the global model on the proposal's target labels with `hfl.train.evaluate`, and measures each
  station's contribution on the last round's station models with
  `hfl.contribution.station_contributions`, the call `hfl.train.train` makes.

Replies are put in station order before aggregating, so the floating-point sums are the same
as in-process whatever order the nodes answer in. A round that lacks a station, or in which a
station replied with an error, raises `StationFailure`: the owners paid for a model trained on
every station, so the run fails rather than silently training on fewer.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from logging import INFO
from pathlib import Path

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.supercore import log

from hfl.aggregate import cloud_aggregate
from hfl.config import ConfigError, TrainConfig
from hfl.contribution import station_contributions
from hfl.data import Client, build_federation, load_dataset
from hfl.flower.protocol import (CONFIG_KEY, DATA_DIR_KEY, DEVICE_KEY, IMAGES_KEY, RESULT_PATH_KEY, ROUND_TIMEOUT_KEY,
                                 RUN_CONFIG_KEY, SAMPLES_KEY, STATION_KEY, THREADS_KEY, TRAIN_S_KEY, config_from_json,
                                 config_to_json)
from hfl.result import TrainResult
from hfl.train import default_threads, evaluate, images_per_station_update, init_state, resolve_device, station_update

State = dict[str, torch.Tensor]


class StationFailure(RuntimeError):
    """A global round did not get a model from every station."""


# State dicts <-> Flower records ---------------------------------------------------------------


def to_record(state: Mapping[str, torch.Tensor]) -> ArrayRecord:
    """A state dict as Flower's ArrayRecord (lossless: numpy's own serialisation, keys in order)."""
    return ArrayRecord.from_torch_state_dict({k: v.detach().cpu() for k, v in state.items()})


def from_record(record: ArrayRecord) -> State:
    return dict(record.to_torch_state_dict())


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU threads set to `n` for the block (the small CNN runs far faster on one: see
    `hfl.train.default_threads`), restored afterwards since the simulation shares our process."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# The ClientApp: one base station ------------------------------------------------------------


def station_of(node_config: Mapping[str, object], n_stations: int) -> int:
    """The station a node serves: its `station` node config, else its simulation `partition-id`."""
    raw = node_config.get(STATION_KEY, node_config.get("partition-id"))
    if raw is None:
        raise ConfigError("station", "this SuperNode has no station: start it with --node-config 'station=<j>'")
    try:
        station = int(str(raw))
    except ValueError:
        raise ConfigError("station", f"node config station={raw!r} is not an integer") from None
    if not 0 <= station < n_stations:
        raise ConfigError("station", f"node config station={station} is outside 0..{n_stations - 1}")
    return station


@functools.lru_cache(maxsize=2)
def _station_clients(cfg_json: str, station: int, device: str) -> tuple[Client, ...]:
    """This station's clients' partitions, built once per process (and per config)."""
    cfg = config_from_json(cfg_json)
    return build_federation(cfg, device).stations[station]


def run_station(msg: Message, context: Context) -> Message:
    """One station's share of a global round (the ClientApp's train handler)."""
    t0 = time.perf_counter()
    config = msg.content["config"]
    cfg_json = str(config[CONFIG_KEY])
    cfg = config_from_json(cfg_json)
    data_dir = context.node_config.get(DATA_DIR_KEY)
    if data_dir:  # the station's own copy of the data set, wherever it lies on its machine
        cfg = cfg.replace(data_dir=str(data_dir))
        cfg_json = config_to_json(cfg)
    round_idx = int(config["server-round"]) - 1  # Flower counts rounds from 1, hfl from 0
    station = station_of(context.node_config, cfg.n_stations)
    device = resolve_device(cfg)
    with torch_threads(int(config.get(THREADS_KEY, 0)) or default_threads(cfg, device)):
        clients = _station_clients(cfg_json, station, str(device))
        state, n_samples = station_update(from_record(msg.content["arrays"]), clients, cfg, round_idx, station)
    return station_reply(msg, state, n_samples, clients, cfg, station, device, t0)


def station_reply(msg: Message, state: State, n_samples: int, clients: tuple[Client, ...], cfg: TrainConfig,
                  station: int, device: torch.device, t0: float) -> Message:
    """A station's answer to a train message: its model, its sample count, the images it
    trained on and its time (what the ServerApp's `decode_replies` reads)."""
    metrics = MetricRecord({STATION_KEY: station, SAMPLES_KEY: n_samples,
                            IMAGES_KEY: images_per_station_update(clients, cfg),
                            TRAIN_S_KEY: time.perf_counter() - t0})
    content = RecordDict({"arrays": to_record(state), "metrics": metrics,
                          "station-info": ConfigRecord({DEVICE_KEY: str(device)})})
    return Message(content=content, reply_to=msg)


client_app = ClientApp()
client_app.train()(run_station)


# The ServerApp: the owner's global rounds ----------------------------------------------------


@dataclass(frozen=True)
class StationReply:
    """One station's answer in one global round: its model, its aggregation weight, its work."""

    station: int
    state: State
    n_samples: int
    images: int
    device: str


def decode_replies(replies: Iterable[Message], n_stations: int, server_round: int) -> list[StationReply]:
    """The replies of one round in station order; `StationFailure` unless every station answered once."""
    got: dict[int, StationReply] = {}
    errors = []
    for msg in replies:
        if msg.has_error():
            errors.append(f"node {msg.metadata.src_node_id}: {msg.error.reason}")
            continue
        metrics = msg.content["metrics"]
        station = int(metrics[STATION_KEY])
        if station in got:
            raise StationFailure(f"round {server_round}: two nodes claim station {station}; give each SuperNode "
                                 f"its own --node-config 'station=<j>'")
        info = msg.content.config_records.get("station-info")
        got[station] = StationReply(station, from_record(msg.content["arrays"]), int(metrics[SAMPLES_KEY]),
                                    int(metrics[IMAGES_KEY]), str(info[DEVICE_KEY]) if info else "unknown")
    missing = [j for j in range(n_stations) if j not in got]
    if errors or missing:
        detail = "; ".join(errors) if errors else "no reply within the round's timeout"
        raise StationFailure(f"round {server_round}: no model from station(s) {missing} ({detail}); the run needs "
                             f"every station and stops here (docs/flower.md, 'When a station fails')")
    return [got[j] for j in range(n_stations)]


class HierFedAvg(FedAvg):
    """Flower's FedAvg at the cloud level of HierFAVG, aggregating with `hfl.aggregate.cloud_aggregate`.

    Every round trains on all `n_stations` nodes (it waits until that many are connected),
    evaluates nothing on the nodes (the owner evaluates centrally) and keeps the last round's
    station models for the contribution measurement.
    """

    def __init__(self, *, n_stations: int) -> None:
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n_stations,
                         min_evaluate_nodes=0, min_available_nodes=n_stations, weighted_by_key=SAMPLES_KEY)
        self.n_stations = n_stations
        self.last_round: list[StationReply] = []
        self.images = 0
        self.train_s = 0.0
        self._round_started = 0.0

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self._round_started = time.perf_counter()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        stations = decode_replies(replies, self.n_stations, server_round)
        state = cloud_aggregate([(r.state, r.n_samples) for r in stations])
        self.last_round = stations
        self.images += sum(r.images for r in stations)
        self.train_s += time.perf_counter() - self._round_started
        log(INFO, "HierFedAvg: round %s aggregated %s stations (%s samples)", server_round, len(stations),
            sum(r.n_samples for r in stations))
        return to_record(state), MetricRecord({SAMPLES_KEY: sum(r.n_samples for r in stations)})


class PromptGrid:
    """A Grid whose `send_and_receive` checks for replies every `interval` seconds.

    Flower's HTTP grid sleeps 3 s between checks; a round of a small job is a few seconds, so
    that sleep was a large share of it. Same public calls (`push_messages`, `pull_messages`)
    underneath; everything else is the wrapped grid's.
    """

    def __init__(self, grid: Grid, interval: float = 0.25) -> None:
        self._grid = grid
        self._interval = interval

    def __getattr__(self, name: str) -> object:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        pending = set(self._grid.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            got = list(self._grid.pull_messages(pending))
            replies.extend(got)
            pending.difference_update(m.metadata.reply_to_message_id for m in got)
            if pending:
                time.sleep(self._interval)
        return replies


def serve(grid: Grid, cfg: TrainConfig, *, round_timeout_s: float = 3600.0, threads: int = 0) -> TrainResult:
    """The owner's side of a whole job on a Flower grid: global rounds, evaluation, contributions.

    `threads` (0: `hfl.train.default_threads`) is torch's CPU threads here and on every station.
    """
    device = resolve_device(cfg)
    with torch_threads(threads or default_threads(cfg, device)):
        return _serve(grid, cfg, device, round_timeout_s, threads)


def _serve(grid: Grid, cfg: TrainConfig, device: torch.device, round_timeout_s: float, threads: int) -> TrainResult:
    t0 = time.perf_counter()
    data = load_dataset(cfg, "cpu")
    test = (data.x_test.to(device), data.y_test.to(device))  # evaluation filters the target labels
    strategy = HierFedAvg(n_stations=cfg.n_stations)
    accuracy: list[float] = []

    def evaluate_global(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        if server_round == 0:  # hfl reports accuracy after each global round only
            return None
        accuracy.append(evaluate(from_record(arrays), test, cfg))
        return MetricRecord({"accuracy": accuracy[-1]})

    result = strategy.start(grid=PromptGrid(grid), initial_arrays=to_record(init_state(cfg, "cpu")),
                            num_rounds=cfg.global_rounds, timeout=round_timeout_s,
                            train_config=ConfigRecord({CONFIG_KEY: config_to_json(cfg), THREADS_KEY: int(threads)}),
                            evaluate_fn=evaluate_global)
    if len(accuracy) != cfg.global_rounds:
        raise StationFailure(f"only {len(accuracy)} of {cfg.global_rounds} global rounds completed")
    last = strategy.last_round
    report = station_contributions(cfg, [r.state for r in last], [r.n_samples for r in last],
                                   lambda st: evaluate(st, test, cfg))
    final_state = {k: v.detach().cpu() for k, v in from_record(result.arrays).items()}
    devices = sorted({r.device for r in last})
    return TrainResult(config=cfg, accuracy=tuple(accuracy), contributions=report.weights,
                       wall_s=time.perf_counter() - t0, train_s=strategy.train_s, images=strategy.images,
                       device=",".join(devices), station_samples=tuple(r.n_samples for r in last), loo=report.loo,
                       shapley=report.shapley, contribution_evals=report.evaluations,
                       contribution_exact=report.exact, final_state=final_state)


def make_server_app(cfg: TrainConfig, sink: list[TrainResult], *, round_timeout_s: float = 3600.0,
                    threads: int = 0) -> ServerApp:
    """A ServerApp for one job in this process (the simulation engine): its result lands in `sink`."""
    app = ServerApp()

    @app.main()
    def _main(grid: Grid, context: Context) -> None:
        sink.append(serve(grid, cfg, round_timeout_s=round_timeout_s, threads=threads))

    return app


server_app = ServerApp()


@server_app.main()
def _deployed_main(grid: Grid, context: Context) -> None:
    """The deployment engine's ServerApp: the job and the result's path come in the run config."""
    cfg = config_from_json(str(context.run_config[RUN_CONFIG_KEY]))
    result = serve(grid, cfg, round_timeout_s=float(context.run_config.get(ROUND_TIMEOUT_KEY, 3600.0)),
                   threads=int(context.run_config.get(THREADS_KEY, 0)))
    path = Path(str(context.run_config[RESULT_PATH_KEY]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    torch.save(result, tmp)  # read back by hfl.flower.run_flower in the launching process
    tmp.replace(path)


__all__ = ["HierFedAvg", "StationFailure", "client_app", "decode_replies", "make_server_app",
"serve", "server_app", "station_of"]
