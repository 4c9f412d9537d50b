"""A participant's own data and model files: what each machine of a real round holds (SPEC section 8).

In the one-process trainer every station's data is a slice of one data set rebuilt from the job's
seed. On their own machines, participants hold their own data instead:

- a **data folder** per participant, in any format of `hfl.folders` (an ImageFolder, CIFAR-10/100,
  MNIST, Fashion-MNIST, SVHN, or an `.npz` folder), read and checked by `read_data_folder`: a
  station trains on its train split, an owner evaluates on its test split (an `.npz` folder holds
  one set for either use). `write_data_folder` writes the `.npz` kind: `data.npz` (`x` uint8
  [n, C, H, W], `y` int64 [n]) and `meta.json` (`{"format": "hcfl-data/1", "dataset",
  "label_names", "shape", "samples"}`).
- `split_for_localnet`: the local network's folders from one data set (digits, or any data
  folder): each station its own Dirichlet label-skewed share of the train split, each owner its
  own held-out share of the test split (the owners' shares are disjoint, so each owner's vote
  rests on data nobody else saw).
- `station_clients`: a station's clients are its own partition of its own folder, fitted to the
  job's classes by name (`hfl.data.fit_to_job`).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hfl.catalog import DIGIT_CLASSES, KNOWN
from hfl.config import ConfigError, TrainConfig
from hfl.data import Client, DataError, DatasetInfo, derive_seed, fit_to_job, load_digits_set, load_folder, \
    make_info, partition
from hfl.digest import file_sha256
from hfl.folders import DATA_FILE, DATA_FORMAT, META_FILE, SPLITS, read_split

MODEL_FORMAT = "hcfl-model/1"
DIGITS_LABELS = DIGIT_CLASSES
LABEL_NAMES = {name: s.classes for name, s in KNOWN.items()}


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


def write_data_folder(folder: Path, x: np.ndarray, y: np.ndarray, dataset: str,
                      classes: Sequence[str] | None = None) -> Path:
    """Write `folder/data.npz` and `folder/meta.json` (checked first); returns `folder`.

    `classes` are the class names (label l is classes[l]); by default the known set `dataset`'s.
    """
    folder = Path(folder)
    if classes is None:
        if dataset not in KNOWN:
            raise ConfigError("dataset", f"unknown dataset {dataset!r}: give its class names")
        classes = KNOWN[dataset].classes
    x, y = np.asarray(x), np.asarray(y)
    where = f"data for {folder}"
    if x.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8, got {x.dtype}")
    if y.dtype != np.int64:
        raise DataError(f"{where}: labels must be int64, got {y.dtype}")
    if x.ndim != 4:
        raise DataError(f"{where}: images must have shape [n, C, H, W], got {list(x.shape)}")
    if dataset in KNOWN and tuple(x.shape[1:]) != KNOWN[dataset].shape:
        shape = KNOWN[dataset].shape
        raise DataError(f"{where}: images must have shape [n, {', '.join(map(str, shape))}] for {dataset}, "
                        f"got {list(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: {len(x)} images but labels of shape {list(y.shape)}")
    if len(y) == 0:
        raise DataError(f"{where}: holds no samples")
    if int(y.min()) < 0 or int(y.max()) >= len(classes):
        raise DataError(f"{where}: labels must lie in 0..{len(classes) - 1} for {dataset}, got "
                        f"{int(y.min())}..{int(y.max())}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (DATA_FILE + ".partial")
    with open(tmp, "wb") as f:  # a file object: np.savez would append `.npz` to a path
        np.savez(f, x=x, y=y)
    tmp.replace(folder / DATA_FILE)
    meta = {"format": DATA_FORMAT, "dataset": dataset, "label_names": list(classes), "shape": list(x.shape[1:]),
            "samples": int(len(y))}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def read_data_folder(folder: Path, *, split: str = "train", fmt: str | None = None,
                     hint: str | None = None) -> LocalSet:
    """A participant's samples from its folder (any format of `hfl.folders`), checked.

    `split`: a station trains on "train", an owner evaluates on "test" (an `.npz` folder holds one
    set for either). Raises `DataError` (field `data_dir`) naming the folder for a missing folder,
    an unknown layout, missing or corrupt files, wrong dtypes or shapes, and labels outside the
    data's classes.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    data = read_split(Path(folder).expanduser(), split, fmt=fmt, hint=hint)
    info = make_info(data.info.dataset, data.info.classes, data.info.shape)
    return LocalSet(info, data.x, data.y, data.info.classes, Path(folder))


def fitted(data: LocalSet, cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    """A participant's samples relabelled to the job's classes (by name); others left out."""
    return fit_to_job(data.x, data.y, data.label_names, data.info.shape, cfg, f"data folder {data.folder}")


def _full_set(dataset: str | None, data_dir: str | os.PathLike[str] | None
              ) -> tuple[str, tuple[str, ...], tuple[np.ndarray, ...]]:
    if data_dir:
        data = load_folder(data_dir, fmt=dataset)
    elif dataset in (None, "digits"):
        data = load_digits_set("cpu")
    elif dataset == "cifar10" and os.environ.get("HCFL_CIFAR10_DIR"):
        data = load_folder(os.environ["HCFL_CIFAR10_DIR"], fmt="cifar10")
    else:
        raise ConfigError("dataset", f"{dataset!r} is read from a data folder: give its folder (--data-dir)")
    arrays = (data.x_train.numpy(), data.y_train.numpy(), data.x_test.numpy(), data.y_test.numpy())
    return data.info.name, data.info.classes or LABEL_NAMES[data.info.name], arrays


@dataclass(frozen=True)
class LocalnetSplit:
    """The local network's data: each station's share of the train split, each owner's of the test
    split (numpy x uint8 [n, C, H, W], y int64 [n]), and what they are."""

    dataset: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    stations: list[tuple[np.ndarray, np.ndarray]]
    owners: list[tuple[np.ndarray, np.ndarray]]

    def __iter__(self):  # type: ignore[no-untyped-def]
        """`stations, owners = split_for_localnet(...)` reads as before."""
        return iter((self.stations, self.owners))

    def __getitem__(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return (self.stations, self.owners)[i]


def split_for_localnet(dataset: str | None, n_stations: int, n_owners: int, *, seed: int, alpha: float | None = 0.5,
                       data_dir: str | os.PathLike[str] | None = None) -> LocalnetSplit:
    """Each station's share of the train split and each owner's share of the test split.

    The data: `data_dir` in any format of `hfl.folders` (`dataset` forces a format), else digits
    (or CIFAR-10 from $HCFL_CIFAR10_DIR when `dataset` is "cifar10"). Stations: Dirichlet(`alpha`)
    label skew over the train split (`alpha=None`: IID), with `hfl.data.partition`: disjoint, and
    together the whole split. Owners: an IID split of the test split, disjoint, so every owner
    holds its own held-out set. Arrays are numpy (x uint8 [n, C, H, W], y int64 [n]), ready for
    `write_data_folder`. Deterministic in `seed`.
    """
    for name, value in (("n_stations", n_stations), ("n_owners", n_owners)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ConfigError("alpha", f"the Dirichlet concentration must be a finite number > 0, got {alpha!r}")
    name, classes, (x_tr, y_tr, x_te, y_te) = _full_set(dataset, data_dir)
    if n_owners > len(y_te):
        raise ConfigError("n_owners", f"{n_owners} owners but only {len(y_te)} test samples")
    if n_stations > len(y_tr):
        raise ConfigError("n_stations", f"{n_stations} stations but only {len(y_tr)} training samples")
    stations = partition(y_tr, n_stations, alpha=alpha, seed=derive_seed(seed, 11))
    owners = partition(y_te, n_owners, alpha=None, seed=derive_seed(seed, 12))
    return LocalnetSplit(name, tuple(classes), tuple(x_tr.shape[1:]), [(x_tr[p], y_tr[p]) for p in stations],
                         [(x_te[p], y_te[p]) for p in owners])


def station_clients(folder: Path, cfg: TrainConfig, station_seed: int) -> tuple[Client, ...]:
    """A station's `cfg.clients_per_station` clients: its own folder's training samples, fitted to
    the job's classes, restricted to the target labels (and capped at `max_train_samples`), split
    IID or Dirichlet(`cfg.alpha`).

    Deterministic in `station_seed` (e.g. `derive_seed(cfg.seed, station)`); tensors on the CPU.
    """
    x, y = fitted(read_data_folder(folder, split="train", hint=cfg.dataset), cfg)
    y_all = y.numpy()
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
        clients.append((x[idx], y[idx]))
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
    config's scored labels), the folder fitted to the model's classes by name. A folder with
    train and test splits contributes its test split."""
    from hfl.train import evaluate

    cfg, state = load_model(path)
    x, y = fitted(read_data_folder(data_folder, split="test", hint=cfg.dataset), cfg)
    if labels is not None:
        bad = [int(t) for t in labels if not 0 <= int(t) < cfg.num_classes]
        if bad or len(labels) == 0:
            raise ConfigError("labels", f"labels {bad or []} are outside 0..{cfg.num_classes - 1} (or none given)")
    cfg = cfg.replace(device=device)
    return evaluate(state, (x, y), cfg, labels=labels)


__all__ = [
    "DATA_FILE",
    "LocalSet",
    "LocalnetSplit",
    "META_FILE",
    "check_state",
    "evaluate_model_file",
    "file_sha256",
    "fitted",
    "load_model",
    "read_data_folder",
    "save_model",
    "split_for_localnet",
    "station_clients",
    "write_data_folder",
]
