"""What the owner's ServerApp and the stations' ClientApps exchange: record keys and the job's encoding.

Kept free of torch and flwr imports, so that the launcher (`hfl.flower.engine`) starts the
SuperLink and SuperNodes without first paying for those imports.
"""

from __future__ import annotations

import json

from hfl.config import TrainConfig

# Train messages (ServerApp -> ClientApp), in their ConfigRecord "config".
CONFIG_KEY = "hcfl-config"  # the TrainConfig as JSON
THREADS_KEY = "torch-threads"  # torch CPU threads, 0 = hfl.train.default_threads
# Replies (ClientApp -> ServerApp), in their MetricRecord "metrics" and ConfigRecord "station-info".
STATION_KEY = "station"  # also the node-config key naming a SuperNode's station
SAMPLES_KEY = "num-examples"  # Flower's FedAvg weighting key: the station's sample count
IMAGES_KEY = "images"  # training images the station processed (throughput figures)
TRAIN_S_KEY = "train-s"
DEVICE_KEY = "device"
# Optional node config: where this station's CIFAR-10 lies on its machine.
DATA_DIR_KEY = "data-dir"
# Run config of the deployment app (`[tool.flwr.app.config]`, see hfl.flower.deploy.write_app).
RUN_CONFIG_KEY = "hcfl-config"
RESULT_PATH_KEY = "result-path"
ROUND_TIMEOUT_KEY = "round-timeout-s"
# The authenticated deployment (hfl.flower.secure): the run config's map from Flower node id to
# station index (JSON, made by the SuperLink's owner from the public keys it registered), where
# the ServerApp reports each round, the folder it evaluates on, how long it waits for stations to
# join; and in each train message, that the station trains on its own data folder (node config
# `data-dir`).
NODE_STATIONS_KEY = "node-stations"
PROGRESS_PATH_KEY = "progress-path"
EVAL_DIR_KEY = "eval-dir"
JOIN_TIMEOUT_KEY = "join-timeout-s"
OWN_DATA_KEY = "own-data"


def config_to_json(cfg: TrainConfig) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True)


def config_from_json(text: str) -> TrainConfig:
    return TrainConfig.from_dict(json.loads(text))


__all__ = ["CONFIG_KEY", "DATA_DIR_KEY", "DEVICE_KEY", "EVAL_DIR_KEY", "IMAGES_KEY", "JOIN_TIMEOUT_KEY",
           "NODE_STATIONS_KEY", "OWN_DATA_KEY", "PROGRESS_PATH_KEY", "RESULT_PATH_KEY", "ROUND_TIMEOUT_KEY",
           "RUN_CONFIG_KEY", "SAMPLES_KEY", "STATION_KEY", "THREADS_KEY", "TRAIN_S_KEY", "config_from_json",
           "config_to_json"]
