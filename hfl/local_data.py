"""A participant's own data and model files: what each machine of a real round holds (SPEC section 8).

In the one-process trainer every station's data is a slice of one data set rebuilt from the job's
seed. On their own machines, participants hold their own data instead:

- a **data folder** per participant: `data.npz` (`x` uint8 [n, C, H, W], `y` int64 [n]) and
  `meta.json` (`{"format": "hcfl-data/1", "dataset", "label_names", "shape"}`), written by
  `write_data_folder`, read and checked by `read_data_folder`. A folder in CIFAR-10's standard
  python format (`cifar-10-batches-py`, or the folder holding it) is read too, through
  `hfl.data`'s reader: a station with its own CIFAR-10 copy trains on its train split, an owner
  evaluates on its test split.
- `split_for_localnet`: the local network's folders from one data set: each station its own
  Dirichlet label-skewed share of the train split, each owner its own held-out share of the
  test split (the owners' shares are disjoint, so each owner's vote rests on data nobody else
  saw).
- `station_clients`: a station's clients are its own partition of its own folder.
- **model files**: `save_model` writes `torch.save({"format", "config", "state"})` (the config
  as JSON text, the state as tensors), so `torch.load(weights_only=True)` reads it back: no
  pickled code runs when an owner loads an untrusted winner's file. `load_model` refuses a file
  that does not load or whose state does not fit its config's model; `evaluate_model_file` is an
  owner's own measurement of a reported model (SPEC section 5, step 7).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hfl.config import DATASETS, NUM_LABELS, ConfigError, TrainConfig
from hfl.data import (CIFAR10_FOLDER, CIFAR10_LABELS, DATASET_INFO, Client, DataError, DatasetInfo, derive_seed,
                      load_cifar10, load_digits_set, partition)
from hfl.digest import file_sha256

DATA_FILE = "data.npz"
META_FILE = "meta.json"
DATA_FORMAT = "hcfl-data/1"
MODEL_FORMAT = "hcfl-model/1"
DIGITS_LABELS = tuple(str(d) for d in range(10))
LABEL_NAMES = {"digits": DIGITS_LABELS, "cifar10": CIFAR10_LABELS}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class LocalSet:
    """One participant's samples: x uint8 [n, C, H, W], y int64 [n] on the CPU."""

    info: DatasetInfo
    x: Tensor
    y: Tensor
    label_names: tuple[str, ...]
    folder: Path

    @property
    def dataset(self) -> str:
        return self.info.name

    @property
    def client(self) -> Client:
        return self.x, self.y

    def __len__(self) -> int:
        return int(self.y.numel())


# Data folders -------------------------------------------------------------------------------


def _check_arrays(x: np.ndarray, y: np.ndarray, dataset: str, where: str) -> None:
    """`DataError` (field `data_dir`) unless x, y are a well-formed sample set of `dataset`."""
    info = DATASET_INFO[dataset]
    shape = (info.in_channels, info.image_size, info.image_size)
    if x.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8, got {x.dtype}")
    if y.dtype != np.int64:
        raise DataError(f"{where}: labels must be int64, got {y.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise DataError(f"{where}: images must have shape [n, {', '.join(map(str, shape))}] for {dataset}, "
                        f"got {list(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: {len(x)} images but labels of shape {list(y.shape)}")
    if len(y) == 0:
        raise DataError(f"{where}: holds no samples")
    n_labels = NUM_LABELS[dataset]
    if int(y.min()) < 0 or int(y.max()) >= n_labels:
        raise DataError(f"{where}: labels must lie in 0..{n_labels - 1} for {dataset}, got "
                        f"{int(y.min())}..{int(y.max())}")


def write_data_folder(folder: Path, x: np.ndarray, y: np.ndarray, dataset: str) -> Path:
    """Write `folder/data.npz` and `folder/meta.json` (checked first); returns `folder`."""
    if dataset not in DATASETS:
        raise ConfigError("dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    folder = Path(folder)
    x, y = np.asarray(x), np.asarray(y)
    _check_arrays(x, y, dataset, f"data for {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (DATA_FILE + ".partial")
    with open(tmp, "wb") as f:  # a file object: np.savez would append `.npz` to a path
        np.savez(f, x=x, y=y)
    tmp.replace(folder / DATA_FILE)
    meta = {"format": DATA_FORMAT, "dataset": dataset, "label_names": list(LABEL_NAMES[dataset]),
            "shape": list(x.shape[1:]), "samples": int(len(y))}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def _cifar_root(folder: Path) -> Path | None:
    """The root `hfl.data.load_cifar10` takes, when `folder` is (or holds) `cifar-10-batches-py`."""
    if (folder / CIFAR10_FOLDER).is_dir():
        return folder
    if folder.name == CIFAR10_FOLDER and folder.is_dir():
        return folder.parent
    return None


def read_data_folder(folder: Path, *, split: str = "train") -> LocalSet:
    """A participant's samples from its folder (see the module doc), checked.

    `split` matters only for a CIFAR-10 python folder (its train or test batches); an `hcfl-data`
    folder holds the participant's samples whatever their use. Raises `DataError` (field
    `data_dir`) naming the folder for missing or corrupt files, wrong dtypes or shapes, and labels
    outside the dataset's range.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    root = _cifar_root(folder)
    if root is not None and not (folder / DATA_FILE).exists():
        data = load_cifar10(root, "cpu")
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        return LocalSet(data.info, x, y, CIFAR10_LABELS, folder)
    missing = [name for name in (DATA_FILE, META_FILE) if not (folder / name).is_file()]
    if missing:
        raise DataError(f"data folder {folder} lacks {', '.join(missing)}; expected {DATA_FILE} and {META_FILE} "
                        f"(written by hfl.local_data.write_data_folder) or a {CIFAR10_FOLDER} folder")
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"data folder {folder}: {META_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != DATA_FORMAT:
        raise DataError(f"data folder {folder}: {META_FILE} is not an {DATA_FORMAT} description")
    dataset = meta.get("dataset")
    if dataset not in DATASETS:
        raise DataError(f"data folder {folder}: {META_FILE} names unknown dataset {dataset!r}; "
                        f"expected one of {', '.join(DATASETS)}")
    try:
        # allow_pickle=False: a data file from elsewhere must not run code when it is read.
        with np.load(folder / DATA_FILE, allow_pickle=False) as npz:
            if set(npz.files) != {"x", "y"}:
                raise DataError(f"data folder {folder}: {DATA_FILE} must hold exactly the arrays x and y, "
                                f"got {sorted(npz.files)}")
            x, y = npz["x"], npz["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"data folder {folder}: {DATA_FILE} is corrupt ({type(exc).__name__}: {exc})") from exc
    _check_arrays(x, y, dataset, f"data folder {folder}")
    names = tuple(str(n) for n in meta.get("label_names", LABEL_NAMES[dataset]))
    return LocalSet(DATASET_INFO[dataset], torch.from_numpy(np.ascontiguousarray(x)),
                    torch.from_numpy(np.ascontiguousarray(y)), names, folder)


def _full_set(dataset: str, data_dir: str | os.PathLike[str] | None) -> tuple[np.ndarray, ...]:
    if dataset == "digits":
        data = load_digits_set("cpu")
    elif dataset == "cifar10":
        data = load_cifar10(data_dir or os.environ.get("HCFL_CIFAR10_DIR"), "cpu")
    else:
        raise ConfigError("dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return data.x_train.numpy(), data.y_train.numpy(), data.x_test.numpy(), data.y_test.numpy()


def split_for_localnet(dataset: str, n_stations: int, n_owners: int, *, seed: int, alpha: float | None = 0.5,
                       data_dir: str | os.PathLike[str] | None = None
                       ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """Each station's share of the train split and each owner's share of the test split.

    Stations: Dirichlet(`alpha`) label skew over the train split (`alpha=None`: IID), with
    `hfl.data.partition`: disjoint, and together the whole split. Owners: an IID split of the
    test split, disjoint, so every owner holds its own held-out set. Arrays are numpy (x uint8
    [n, C, H, W], y int64 [n]), ready for `write_data_folder`. Deterministic in `seed`.
    """
    for name, value in (("n_stations", n_stations), ("n_owners", n_owners)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ConfigError("alpha", f"the Dirichlet concentration must be a finite number > 0, got {alpha!r}")
    x_tr, y_tr, x_te, y_te = _full_set(dataset, data_dir)
    if n_owners > len(y_te):
        raise ConfigError("n_owners", f"{n_owners} owners but only {len(y_te)} test samples")
    stations = partition(y_tr, n_stations, alpha=alpha, seed=derive_seed(seed, 11))
    owners = partition(y_te, n_owners, alpha=None, seed=derive_seed(seed, 12))
    return [(x_tr[p], y_tr[p]) for p in stations], [(x_te[p], y_te[p]) for p in owners]


def station_clients(folder: Path, cfg: TrainConfig, station_seed: int) -> tuple[Client, ...]:
    """A station's `cfg.clients_per_station` clients: its own folder's training samples, restricted
    to the target labels (and capped at `max_train_samples`), split IID or Dirichlet(`cfg.alpha`).

    Deterministic in `station_seed` (e.g. `derive_seed(cfg.seed, station)`); tensors on the CPU.
    """
    data = read_data_folder(folder, split="train")
    if data.dataset != cfg.dataset:
        raise ConfigError("dataset", f"the job trains on {cfg.dataset} but data folder {folder} holds {data.dataset}")
    y_all = data.y.numpy()
    keep = np.flatnonzero(np.isin(y_all, cfg.labels))
    if len(keep) == 0:
        raise DataError(f"data folder {folder} holds no sample of the target labels {list(cfg.labels)}")
    if cfg.max_train_samples is not None and cfg.max_train_samples < len(keep):
        rng = np.random.default_rng(derive_seed(station_seed, 1))
        keep = np.sort(rng.choice(keep, size=cfg.max_train_samples, replace=False))
    parts = partition(y_all[keep], cfg.clients_per_station, alpha=None if cfg.iid else cfg.alpha,
                      seed=derive_seed(station_seed, 2))
    clients = []
    for p in parts:
        idx = torch.from_numpy(keep[p])
        clients.append((data.x[idx], data.y[idx]))
    return tuple(clients)


# Model files --------------------------------------------------------------------------------


def save_model(path: Path, state: Mapping[str, Tensor], cfg: TrainConfig) -> str:
    """Write the model file (config and state, loadable with `weights_only=True`); returns its sha256 hex."""
    check_state(state, cfg, f"model for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": MODEL_FORMAT, "config": json.dumps(cfg.to_dict(), sort_keys=True),
           "state": {k: v.detach().cpu().contiguous() for k, v in state.items()}}
    tmp = path.with_name(path.name + ".partial")
    torch.save(doc, tmp)
    tmp.replace(path)
    return file_sha256(path)


def check_state(state: Mapping[str, Tensor], cfg: TrainConfig, where: str) -> None:
    """`ValueError` naming `state` unless `state` is exactly the state dict of `cfg`'s model."""
    from hfl.train import init_state  # the reference layout: a fresh model of the same config

    ref = init_state(cfg, "cpu")
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"state: {where} is not a mapping of tensors")
    missing, extra = sorted(set(ref) - set(state)), sorted(set(state) - set(ref))
    if missing or extra:
        raise ValueError(f"state: {where} does not fit a {cfg.model} for {cfg.dataset} "
                         f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in ref.items():
        got = state[k]
        if tuple(got.shape) != tuple(v.shape) or got.dtype != v.dtype:
            raise ValueError(f"state: {where}: {k} is {got.dtype} {list(got.shape)}, a {cfg.model} for "
                             f"{cfg.dataset} needs {v.dtype} {list(v.shape)}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise ValueError(f"state: {where}: {k} holds non-finite values")


def load_model(path: Path) -> tuple[TrainConfig, dict[str, Tensor]]:
    """The config and state of a model file, checked; `ValueError` naming the field at fault.

    Read with `torch.load(weights_only=True)`: tensors, dicts and strings only, no code.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model: no model file at {path}")
    try:
        doc: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refusals, zip errors, truncation: all mean "not a model file"
        raise ValueError(f"model: {path} is not a loadable model file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise ValueError(f"format: {path} is not an {MODEL_FORMAT} file")
    try:
        cfg = TrainConfig.from_dict(json.loads(str(doc.get("config"))))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config: {path} carries no valid training config ({exc})") from exc
    state = doc.get("state")
    if not isinstance(state, dict):
        raise ValueError(f"state: {path} carries no model state")
    check_state(state, cfg, str(path))
    return cfg, dict(state)


def evaluate_model_file(path: Path, data_folder: Path, labels: Sequence[int] | None = None, *,
                        device: str = "cpu") -> float:
    """Accuracy of the model file on `data_folder`'s samples of `labels` (default: the model
    config's scored labels). A CIFAR-10 python folder contributes its test split."""
    from hfl.train import evaluate

    cfg, state = load_model(path)
    data = read_data_folder(data_folder, split="test")
    if data.dataset != cfg.dataset:
        raise ConfigError("dataset", f"the model is for {cfg.dataset} but data folder {data_folder} holds "
                                     f"{data.dataset}")
    if labels is not None:
        bad = [int(t) for t in labels if not 0 <= int(t) < NUM_LABELS[cfg.dataset]]
        if bad or len(labels) == 0:
            raise ConfigError("labels", f"labels {bad or []} are outside 0..{NUM_LABELS[cfg.dataset] - 1} "
                                        f"(or none given)")
    cfg = cfg.replace(device=device)
    return evaluate(state, data.client, cfg, labels=labels)


__all__ = [
    "DATA_FILE",
    "LocalSet",
    "META_FILE",
    "check_state",
    "evaluate_model_file",
    "file_sha256",
    "load_model",
    "read_data_folder",
    "save_model",
    "split_for_localnet",
    "station_clients",
    "write_data_folder",
]
