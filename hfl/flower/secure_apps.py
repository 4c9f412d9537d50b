"""The Flower apps of the authenticated deployment (`hfl.flower.secure`): stations on their own data.

- The `ClientApp` (`client_app`) is a station: it trains on its OWN data folder, named by its
  node config (`flower-supernode --node-config 'data-dir="/path"'`, a folder in any format of
  `hfl.folders`), fitted to the job's classes and split among its clients by
  `hfl.local_data.station_clients`; nothing is rebuilt from the job's seed. It builds the job's
  model from the registry (`hfl.models`: the small CNN, a torchvision model, or a plugin the
  station installed itself). Which station it is comes in each train message, from the
  ServerApp, which knows it from the public key it registered for that node.
- The `ServerApp` (`server_app`) runs HierFAVG over the node ids in its run config
  (node id -> station, made by `SecureSuperLink` from the keys it registered) and no others: a
  node the owner did not register gets no work. Each round's replies are decoded by the node id
  they come from (not by what a reply says), checked against the model's layout, put in station
  order and averaged with `hfl.aggregate.cloud_aggregate`; the global model is evaluated with
  `hfl.train.evaluate` on the owner's own data folder (or the dataset's test split).

Lost stations (the policy of this deployment; the older engines fail the run instead):
- before round 1 the ServerApp waits up to the join timeout for every station to come online;
  the absent ones are dropped;
- a station that replies with an error, whose reply is malformed, whose node goes offline
  (Flower marks a node offline after two missed 30 s heartbeats) or that has not replied within
  the round timeout, is dropped from that round on (it does not come back in later rounds);
- the run fails only when a round has no station left.

Contributions: measured as in every other path (`hfl.contribution.station_contributions`) on the
models of the stations that took part in the LAST global round; a station dropped earlier is
credited 0 (and shows 0 samples, 0.0 leave-one-out and Shapley). The final model is what it is
measured against, and a station absent from the last round delivered no model to it; crediting
earlier rounds would need a different measure than the one the contract's bonus is defined by.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from logging import INFO, WARNING
from pathlib import Path

import torch
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.supercore import log

from hfl.aggregate import cloud_aggregate
from hfl.config import ConfigError, TrainConfig
from hfl.contribution import station_contributions
from hfl.data import Client, derive_seed, load_dataset
from hfl.flower.apps import StationFailure, StationReply, from_record, station_reply, to_record, torch_threads
from hfl.flower.protocol import (CONFIG_KEY, DATA_DIR_KEY, DEVICE_KEY, EVAL_DIR_KEY, IMAGES_KEY, JOIN_TIMEOUT_KEY,
                                 NODE_STATIONS_KEY, OWN_DATA_KEY, PROGRESS_PATH_KEY, RESULT_PATH_KEY,
                                 ROUND_TIMEOUT_KEY, RUN_CONFIG_KEY, SAMPLES_KEY, STATION_KEY, THREADS_KEY,
                                 config_from_json, config_to_json)
from hfl.local_data import check_state, fitted, read_data_folder, station_clients
from hfl.result import TrainResult
from hfl.train import default_threads, evaluate, init_state, resolve_device, station_update

State = dict[str, torch.Tensor]
POLL_S = 0.25  # how often the ServerApp checks for replies
LIVENESS_S = 2.0  # how often it asks which nodes are online


# The ClientApp: a station on its own data ---------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _own_clients(folder: str, cfg_json: str, station: int) -> tuple[Client, ...]:
    """The station's clients, from its own folder, built once per ClientApp process and job."""
    cfg = config_from_json(cfg_json)
    return station_clients(Path(folder), cfg, derive_seed(cfg.seed, station))


def run_own_station(msg: Message, context: Context) -> Message:
    """One station's share of a global round on its own data (the ClientApp's train handler)."""
    t0 = time.perf_counter()
    config = msg.content["config"]
    if not bool(config.get(OWN_DATA_KEY, False)):
        raise ConfigError("own-data", "this ClientApp trains on the station's own data folder only")
    folder = context.node_config.get(DATA_DIR_KEY)
    if not folder:
        raise ConfigError("data_dir", "this SuperNode has no data folder: start it with "
                                      f"--node-config '{DATA_DIR_KEY}=\"/path/to/folder\"'")
    cfg = config_from_json(str(config[CONFIG_KEY]))
    station = int(config[STATION_KEY])  # told by the ServerApp, which knows this node's key
    round_idx = int(config["server-round"]) - 1
    device = resolve_device(cfg)
    threads = int(context.node_config.get(THREADS_KEY, 0) or config.get(THREADS_KEY, 0) or 0)
    with torch_threads(threads or default_threads(cfg, device)):
        clients = _own_clients(str(folder), config_to_json(cfg), station)
        state, n_samples = station_update(from_record(msg.content["arrays"]), clients, cfg, round_idx, station)
    return station_reply(msg, state, n_samples, clients, cfg, station, device, t0)


client_app = ClientApp()
client_app.train()(run_own_station)


# The ServerApp: the winner's rounds over the registered nodes ------------------------------------


def _decode(msg: Message, station: int, cfg: TrainConfig) -> StationReply:
    """A station's reply, checked: a model of the job's layout and a non-negative sample count."""
    metrics = msg.content["metrics"]
    state = from_record(msg.content["arrays"])
    check_state(state, cfg, f"station {station}'s model")
    n_samples = int(metrics[SAMPLES_KEY])
    if n_samples < 0:
        raise ValueError(f"samples: station {station} reported {n_samples} samples")
    info = msg.content.config_records.get("station-info")
    return StationReply(station, state, n_samples, int(metrics.get(IMAGES_KEY, 0)),
                        str(info[DEVICE_KEY]) if info else "unknown")


def wait_for_nodes(grid: Grid, wanted: set[int], timeout_s: float) -> set[int]:
    """The wanted node ids online once all are, or when `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        online = set(grid.get_node_ids()) & wanted
        if online == wanted or time.monotonic() >= deadline:
            return online
        time.sleep(1.0)


def train_round(grid: Grid, state: State, cfg: TrainConfig, targets: Mapping[int, int], server_round: int,
                round_timeout_s: float, threads: int) -> dict[int, StationReply]:
    """Send round `server_round` (from 1) to `targets` (station -> node id); the stations that
    delivered a valid model before the timeout, by station. Lost ones are logged and left out."""
    cfg_json = config_to_json(cfg)
    messages = []
    for j, node in targets.items():
        config = ConfigRecord({CONFIG_KEY: cfg_json, "server-round": server_round, THREADS_KEY: int(threads),
                               STATION_KEY: int(j), OWN_DATA_KEY: True})
        messages.append(Message(content=RecordDict({"arrays": to_record(state), "config": config}),
                                dst_node_id=node, message_type=MessageType.TRAIN))
    ids = list(grid.push_messages(messages))
    stations = list(targets)
    pending = {mid: j for mid, j in zip(ids, stations) if mid}
    for mid, j in zip(ids, stations):
        if not mid:
            log(WARNING, "round %s: the message to station %s could not be sent; dropping it", server_round, j)
    got: dict[int, StationReply] = {}
    deadline = time.monotonic() + round_timeout_s
    next_liveness = time.monotonic() + LIVENESS_S
    while pending and time.monotonic() < deadline:
        for msg in grid.pull_messages(list(pending)):
            j = pending.pop(msg.metadata.reply_to_message_id, None)
            if j is None:
                continue
            if msg.has_error():
                log(WARNING, "round %s: station %s replied with an error (%s); dropping it", server_round, j,
                    msg.error.reason)
                continue
            if msg.metadata.src_node_id != targets[j]:
                log(WARNING, "round %s: the reply for station %s came from node %s, not %s; dropping it",
                    server_round, j, msg.metadata.src_node_id, targets[j])
                continue
            try:
                got[j] = _decode(msg, j, cfg)
            except (KeyError, TypeError, ValueError) as exc:
                log(WARNING, "round %s: station %s sent a malformed reply (%s); dropping it", server_round, j, exc)
        if pending and time.monotonic() >= next_liveness:
            online = set(grid.get_node_ids())
            for mid, j in list(pending.items()):
                if targets[j] not in online:
                    log(WARNING, "round %s: station %s's node went offline; dropping it", server_round, j)
                    pending.pop(mid)
            next_liveness = time.monotonic() + LIVENESS_S
        if pending:
            time.sleep(POLL_S)
    for j in pending.values():
        log(WARNING, "round %s: no reply from station %s within %.0f s; dropping it", server_round, j,
            round_timeout_s)
    return got


def _test_set(cfg: TrainConfig, eval_dir: str, device: torch.device) -> Client:
    if eval_dir:  # the winner's own held-out set, in any format, fitted to the job's classes by name
        try:
            x, y = fitted(read_data_folder(Path(eval_dir), split="test", hint=cfg.dataset), cfg)
        except ConfigError as exc:
            raise ConfigError("eval_folder", exc.message) from exc
        return x.to(device), y.to(device)
    data = load_dataset(cfg, "cpu")
    return data.x_test.to(device), data.y_test.to(device)


def serve_secure(grid: Grid, cfg: TrainConfig, node_stations: Mapping[int, int], *, round_timeout_s: float,
                 join_timeout_s: float, eval_dir: str = "", threads: int = 0,
                 progress_path: Path | None = None) -> TrainResult:
    """The winner's side of a job on the registered nodes only (see the module doc)."""
    device = resolve_device(cfg)
    with torch_threads(threads or default_threads(cfg, device)):
        return _serve_secure(grid, cfg, node_stations, device, round_timeout_s, join_timeout_s, eval_dir, threads,
                             progress_path)


def _serve_secure(grid: Grid, cfg: TrainConfig, node_stations: Mapping[int, int], device: torch.device,
                  round_timeout_s: float, join_timeout_s: float, eval_dir: str, threads: int,
                  progress_path: Path | None) -> TrainResult:
    t0 = time.perf_counter()
    node_of = {int(j): int(n) for n, j in node_stations.items()}
    if sorted(node_of) != list(range(cfg.n_stations)):
        raise ConfigError("n_stations", f"the node map names stations {sorted(node_of)}, the job has "
                                        f"{cfg.n_stations}")
    test = _test_set(cfg, eval_dir, device)
    online = wait_for_nodes(grid, set(node_of.values()), join_timeout_s)
    active = [j for j in sorted(node_of) if node_of[j] in online]
    dropped = [j for j in sorted(node_of) if node_of[j] not in online]
    if dropped:
        log(WARNING, "stations %s did not come online within %.0f s; training without them", dropped, join_timeout_s)
    state: State = init_state(cfg, "cpu")
    accuracy: list[float] = []
    last: list[StationReply] = []
    images, train_s = 0, 0.0
    for r in range(1, cfg.global_rounds + 1):
        if not active:
            raise StationFailure(f"round {r}: no station is left (dropped: {dropped})")
        t = time.perf_counter()
        got = train_round(grid, state, cfg, {j: node_of[j] for j in active}, r, round_timeout_s, threads)
        lost = [j for j in active if j not in got]
        dropped += lost
        active = [j for j in active if j in got]
        if not got:
            raise StationFailure(f"round {r}: no station delivered a model (dropped: {sorted(dropped)})")
        last = [got[j] for j in sorted(got)]
        if sum(x.n_samples for x in last) <= 0:
            raise StationFailure(f"round {r}: the stations that replied hold no training sample")
        state = cloud_aggregate([(x.state, x.n_samples) for x in last])
        train_s += time.perf_counter() - t
        images += sum(x.images for x in last)
        accuracy.append(evaluate(state, test, cfg))
        log(INFO, "round %s: %s stations aggregated, accuracy %.4f", r, len(last), accuracy[-1])
        if progress_path is not None:
            with open(progress_path, "a") as f:
                f.write(json.dumps({"round": r, "rounds": cfg.global_rounds, "accuracy": accuracy[-1],
                                    "stations": [x.station for x in last], "dropped": sorted(dropped)}) + "\n")
    report = station_contributions(cfg, [x.state for x in last], [x.n_samples for x in last],
                                   lambda st: evaluate(st, test, cfg))
    where = {x.station: i for i, x in enumerate(last)}

    def full(values: tuple, absent: object) -> tuple:
        return tuple(values[where[j]] if j in where else absent for j in range(cfg.n_stations))

    return TrainResult(config=cfg, accuracy=tuple(accuracy), contributions=full(report.weights, 0),
                       wall_s=time.perf_counter() - t0, train_s=train_s, images=images,
                       device=",".join(sorted({x.device for x in last})),
                       station_samples=full(tuple(x.n_samples for x in last), 0), loo=full(report.loo, 0.0),
                       shapley=None if report.shapley is None else full(report.shapley, 0.0),
                       contribution_evals=report.evaluations, contribution_exact=report.exact,
                       dropped=tuple(sorted(dropped)),
                       final_state={k: v.detach().cpu() for k, v in state.items()})


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    cfg = config_from_json(str(rc[RUN_CONFIG_KEY]))
    node_stations = {int(n): int(j) for n, j in json.loads(str(rc[NODE_STATIONS_KEY])).items()}
    progress = str(rc.get(PROGRESS_PATH_KEY, ""))
    result = serve_secure(grid, cfg, node_stations, round_timeout_s=float(rc[ROUND_TIMEOUT_KEY]),
                          join_timeout_s=float(rc.get(JOIN_TIMEOUT_KEY, rc[ROUND_TIMEOUT_KEY])),
                          eval_dir=str(rc.get(EVAL_DIR_KEY, "")), threads=int(rc.get(THREADS_KEY, 0)),
                          progress_path=Path(progress) if progress else None)
    path = Path(str(rc[RESULT_PATH_KEY]))
    tmp = path.with_suffix(".partial")
    torch.save(result, tmp)  # read back by SecureSuperLink.run in the launching process
    tmp.replace(path)


__all__ = ["client_app", "run_own_station", "serve_secure", "server_app", "train_round", "wait_for_nodes"]
