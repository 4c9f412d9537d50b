"""Data for the trainer: decoded once into uint8 tensors on the device, then split into a federation.

Where the images come from, nothing ever downloaded:
- scikit-learn's digits (shipped inside the package: 1797 real 8x8 grey images, 10 classes), the
  default, so that any machine learns something real in seconds. Pixels 0..16 are scaled to
  0..255 and kept at their native 8x8 (the models take any size; native size keeps the CPU fast).
- a data folder (`cfg.data_dir`) in any format of `hfl.folders`: an ImageFolder, CIFAR-10/100's
  python format, MNIST and Fashion-MNIST raw files, SVHN's .mat files, or a participant's .npz
  folder (one set of samples: the trainer holds out a fixed stratified 20% of it as the test
  split, as for digits). CIFAR-10 may also come from `$HCFL_CIFAR10_DIR`.

A job's classes and image shape are its config's (`cfg.class_names`, `cfg.data_shape`); a folder
is fitted to them by class name (`fit_to_job`): a folder may hold a subset of the job's classes, in
any order, and its samples of other classes are left out. Its images must have the job's shape.

A federation is `n_stations x clients_per_station` clients, each holding `(x, y)`: x a uint8
tensor [n, C, H, W] and y an int64 tensor [n] on the training device. The training set is first
restricted to the proposal's target labels, then split IID or by Dirichlet(alpha) label skew
(Hsu et al. 2019, "Measuring the effects of non-identical data distribution"): every sample goes
to exactly one client. Everything is a function of the config's seed.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hfl.catalog import CIFAR10_CLASSES, KNOWN, normalisation
from hfl.config import CIFAR10_ENV, ConfigError, TrainConfig
from hfl.folders import (CIFAR10_FILES, CIFAR10_FOLDER, DataError, describe_folder, read_described,
                         signature)

Client = tuple[Tensor, Tensor]  # (x uint8 [n, C, H, W], y int64 [n])

CIFAR10_LABELS = CIFAR10_CLASSES


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, classes and normalisation of a job's data (per-channel mean/std of pixels scaled to [0, 1])."""

    name: str
    in_channels: int
    image_size: tuple[int, int]  # (H, W)
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.in_channels, *self.image_size)


def make_info(name: str, classes: tuple[str, ...], shape: tuple[int, int, int]) -> DatasetInfo:
    mean, std = normalisation(name, shape[0])
    return DatasetInfo(name, shape[0], (shape[1], shape[2]), len(classes), mean, std, tuple(classes))


DATASET_INFO = {name: make_info(name, s.classes, s.shape) for name, s in KNOWN.items()}


@functools.lru_cache(maxsize=64)
def _info(name: str, classes: tuple[str, ...], shape: tuple[int, int, int]) -> DatasetInfo:
    return make_info(name, classes, shape)


def info_for(cfg: TrainConfig) -> DatasetInfo:
    """The job's data: its dataset's name (normalisation), classes and image shape."""
    return _info(cfg.dataset, cfg.class_names, cfg.data_shape)


@dataclass(frozen=True)
class ImageSet:
    """A whole dataset as four tensors on one device."""

    info: DatasetInfo
    x_train: Tensor  # [N, C, H, W] uint8
    y_train: Tensor  # [N] int64
    x_test: Tensor  # [M, C, H, W] uint8
    y_test: Tensor  # [M] int64

    def to(self, device: torch.device | str) -> ImageSet:
        return ImageSet(self.info, self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
                        self.y_test.to(device))


@dataclass(frozen=True)
class Federation:
    """Per-station lists of per-client `(x, y)` and the test set (all of it; evaluation filters labels)."""

    info: DatasetInfo
    stations: tuple[tuple[Client, ...], ...]
    test: Client
    labels: tuple[int, ...]  # target labels: training data holds only these

    @property
    def station_samples(self) -> list[int]:
        return [sum(int(y.numel()) for _, y in clients) for clients in self.stations]

    @property
    def n_train(self) -> int:
        return sum(self.station_samples)


# Loading ------------------------------------------------------------------------------------


def _held_out(n: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fixed 80/20 split of `n` samples (stratified when every class has two), independent of any seed."""
    from sklearn.model_selection import train_test_split

    if n < 2:
        raise DataError(f"{n} sample(s): too few to hold out a test split")
    counts = np.bincount(y)
    strat = y if (counts[counts > 0] >= 2).all() and len(counts[counts > 0]) <= n // 5 else None
    tr, te = train_test_split(np.arange(n), test_size=0.2, random_state=0, stratify=strat)
    return np.sort(tr), np.sort(te)


@functools.lru_cache(maxsize=1)
def _digits_cpu() -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]  # [1797, 1, 8, 8]
    y = d.target.astype(np.int64)
    # A fixed stratified split, independent of the training seed, so accuracies are comparable.
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return ImageSet(DATASET_INFO["digits"], torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te),
                    torch.from_numpy(y_te))


def load_digits_set(device: torch.device | str = "cpu") -> ImageSet:
    """scikit-learn's digits: 1437 training and 360 test images, [N, 1, 8, 8] uint8."""
    return _digits_cpu().to(device)


@functools.lru_cache(maxsize=4)
def _folder_cpu(root: str, fmt: str | None, hint: str | None, sig: tuple) -> ImageSet:
    info = describe_folder(root, fmt=fmt, hint=hint)
    dinfo = make_info(info.dataset, info.classes, info.shape)
    if info.fmt == "npz":  # one set of samples: hold out a fixed share as the test split
        one = read_described(info, "train")
        tr, te = _held_out(len(one), one.y.numpy())
        return ImageSet(dinfo, one.x[tr], one.y[tr], one.x[te], one.y[te])
    train = read_described(info, "train")
    test = read_described(info, "test")
    return ImageSet(dinfo, train.x, train.y, test.x, test.y)


def load_folder(root: str | os.PathLike[str], *, fmt: str | None = None, hint: str | None = None,
                device: torch.device | str = "cpu") -> ImageSet:
    """Both splits of a data folder in any format of `hfl.folders` (detected, or `fmt`), decoded once per
    process while its files are unchanged. `DataError` naming the folder when it is missing or bad."""
    path = Path(root).expanduser()
    if not path.is_dir():
        describe_folder(path)  # the one-line "does not exist" error
    path = path.resolve()
    return _folder_cpu(str(path), fmt, hint, signature(path)).to(device)


def load_cifar10(root: str | os.PathLike[str] | None, device: torch.device | str = "cpu") -> ImageSet:
    """CIFAR-10 from `root` (the folder holding `cifar-10-batches-py`, or that folder), decoded once per process.

    Raises `DataError` naming the folder and the expected files when it is missing or corrupt.
    """
    if root is None or str(root) == "":
        raise DataError(f"no CIFAR-10 folder given: pass --data-dir or set ${CIFAR10_ENV} to the folder holding "
                        f"{CIFAR10_FOLDER}/")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"CIFAR-10 folder {path} does not exist; expected {path / CIFAR10_FOLDER}/"
                        f"{{{','.join(CIFAR10_FILES)}}} in the CIFAR-10 python format")
    return load_folder(path, fmt="cifar10", device=device)


def class_map(have: tuple[str, ...], want: tuple[str, ...]) -> np.ndarray:
    """For each class of `have`, its index in `want` (-1 when the job has no such class)."""
    index = {name: i for i, name in enumerate(want)}
    return np.array([index.get(name, -1) for name in have], dtype=np.int64)


def fit_to_job(x: Tensor, y: Tensor, have: tuple[str, ...], shape: tuple[int, ...], cfg: TrainConfig,
               where: str) -> tuple[Tensor, Tensor]:
    """Samples of a folder (classes `have`, images of `shape`) relabelled to the job's classes by name;
    samples of classes the job does not have are left out. `ConfigError` (field `dataset`) when the
    images are not the job's shape or the folder shares no class with the job."""
    want = cfg.class_names
    if tuple(shape) != tuple(cfg.data_shape):
        raise ConfigError("dataset", f"the job trains on {cfg.dataset} images of {'x'.join(map(str, cfg.data_shape))} "
                                     f"(channels x height x width) but {where} holds "
                                     f"{'x'.join(map(str, shape))} images")
    if tuple(have) == tuple(want):
        return x, y
    mapping = class_map(tuple(have), want)
    if (mapping < 0).all():
        raise ConfigError("dataset", f"{where} shares no class with the job's {cfg.dataset} ({', '.join(want[:6])}"
                                     f"{', ...' if len(want) > 6 else ''}); it holds {', '.join(have[:6])}"
                                     f"{', ...' if len(have) > 6 else ''}")
    new = torch.from_numpy(mapping)[y]
    keep = new >= 0
    return x[keep], new[keep]


def load_dataset(cfg: TrainConfig, device: torch.device | str = "cpu") -> ImageSet:
    """The job's whole data set: digits, or its data folder fitted to its classes and shape."""
    if cfg.dataset == "digits" and not cfg.data_dir:
        return load_digits_set(device)
    root = cfg.resolved_data_dir()
    if cfg.dataset == "cifar10" and not root:
        load_cifar10(None)  # the one-line error naming --data-dir and the environment variable
    if not root:
        raise DataError(f"no data folder given for {cfg.dataset}: pass --data-dir")
    data = load_folder(root, hint=cfg.dataset)
    where = f"data folder {root}"
    x_tr, y_tr = fit_to_job(data.x_train, data.y_train, data.info.classes, data.info.shape, cfg, where)
    x_te, y_te = fit_to_job(data.x_test, data.y_test, data.info.classes, data.info.shape, cfg, where)
    return ImageSet(info_for(cfg), x_tr, y_tr, x_te, y_te).to(device)


def write_fake_cifar10(root: str | os.PathLike[str], *, n_train: int = 500, n_test: int = 100, seed: int = 0) -> Path:
    """Write a small, learnable folder in the CIFAR-10 python format under `root`; returns `root`.

    Each class is a fixed colour and coarse pattern plus pixel noise, so a short run can learn it. The
    training images are spread over the five `data_batch_*` files as in the real set.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    # Each class gets its own colour from a 3x3x3 grid (so any two differ by >= 77 in a channel)
    # plus a coarse 4x4 pattern: both survive the random crops and flips of augmentation.
    grid = np.array([(r, g, b) for r in (50, 128, 205) for g in (50, 128, 205) for b in (50, 128, 205)])
    colours = grid[rng.choice(len(grid), size=10, replace=False)]
    coarse = rng.integers(-20, 21, size=(10, 3, 4, 4)).repeat(8, axis=2).repeat(8, axis=3)
    templates = (colours[:, :, None, None] + coarse).astype(np.int16)  # [10, 3, 32, 32]

    def batch(n: int, label: str) -> dict:
        y = rng.integers(0, 10, size=n)
        x = templates[y] + rng.integers(-40, 41, size=(n, 3, 32, 32))
        x = np.clip(x, 0, 255).astype(np.uint8).reshape(n, 3072)
        return {"batch_label": label, "labels": [int(v) for v in y], "data": x,
                "filenames": [f"fake_{label}_{i}.png" for i in range(n)]}

    sizes = np.array_split(np.arange(n_train), 5)
    for i, part in enumerate(sizes, start=1):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(len(part), f"training batch {i} of 5"), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(n_test, "testing batch 1 of 1"), f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CIFAR10_LABELS), "num_cases_per_batch": max(len(p) for p in sizes),
                     "num_vis": 3072}, f)
    return Path(root)


# Partitioning -------------------------------------------------------------------------------


def partition(labels: np.ndarray, n_clients: int, *, alpha: float | None, seed: int) -> list[np.ndarray]:
    """Split sample indices `0..len(labels)-1` among `n_clients`; every index lands in exactly one client.

    `alpha=None` is IID (a shuffled split into sizes that differ by at most one). Otherwise, for each
    label, the fractions of its samples given to the clients are drawn from Dirichlet(alpha, ..., alpha):
    smaller alpha gives each client fewer labels. Clients left empty take one sample from the largest.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n_clients < 1:
        raise ConfigError("clients_per_station", f"need at least one client, got {n_clients}")
    if n_clients > n:
        raise ConfigError("clients_per_station",
                          f"{n_clients} clients (n_stations x clients_per_station) but only {n} training samples")
    rng = np.random.default_rng(seed)
    if alpha is None:
        return [np.sort(part) for part in np.array_split(rng.permutation(n), n_clients)]
    if not alpha > 0:
        raise ConfigError("alpha", f"the Dirichlet concentration must be > 0, got {alpha!r}")
    buckets: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        p = rng.dirichlet(np.full(n_clients, float(alpha)))
        cuts = np.rint(np.cumsum(p)[:-1] * len(idx)).astype(int)
        for k, part in enumerate(np.split(idx, cuts)):
            buckets[k].append(part)
    parts = [np.concatenate(b) if b else np.empty(0, dtype=np.int64) for b in buckets]
    # Tiny alpha can leave a client with nothing; move one sample from the largest client.
    for k in range(n_clients):
        if len(parts[k]) == 0:
            big = int(np.argmax([len(p) for p in parts]))
            parts[k], parts[big] = parts[big][-1:], parts[big][:-1]
    return [np.sort(p.astype(np.int64)) for p in parts]


def label_skew(parts: list[np.ndarray], labels: np.ndarray, num_classes: int) -> float:
    """Mean total-variation distance between each client's label distribution and the overall one.

    0 means every client sees the global mix; it approaches 1 as clients hold single labels.
    """
    labels = np.asarray(labels)
    overall = np.bincount(labels, minlength=num_classes) / len(labels)
    dists = []
    for p in parts:
        if len(p) == 0:
            continue
        local = np.bincount(labels[p], minlength=num_classes) / len(p)
        dists.append(0.5 * np.abs(local - overall).sum())
    return float(np.mean(dists))


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (deterministic across processes, unlike `hash`)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def build_federation(cfg: TrainConfig, device: torch.device | str = "cpu", *,
                     dataset: ImageSet | None = None) -> Federation:
    """The federation of `cfg`, deterministic in `cfg.seed`: data restricted to the target labels,
    capped at `max_train_samples`, split over `n_stations x clients_per_station` clients (client `k`
    belongs to station `k // clients_per_station`); stations in `shuffled_label_stations` get their
    clients' labels shuffled among their own samples (a station with useless data).
    """
    data = (dataset if dataset is not None else load_dataset(cfg, "cpu"))
    labels = cfg.labels
    y_all = data.y_train.cpu().numpy()
    keep = np.flatnonzero(np.isin(y_all, labels))
    if cfg.max_train_samples is not None and cfg.max_train_samples < len(keep):
        rng = np.random.default_rng(derive_seed(cfg.seed, 1))
        keep = np.sort(rng.choice(keep, size=cfg.max_train_samples, replace=False))
    parts = partition(y_all[keep], cfg.n_clients, alpha=None if cfg.iid else cfg.alpha,
                      seed=derive_seed(cfg.seed, 2))
    x_dev = data.x_train.to(device)
    y_dev = data.y_train.to(device)
    stations: list[tuple[Client, ...]] = []
    for s in range(cfg.n_stations):
        clients = []
        for k in range(s * cfg.clients_per_station, (s + 1) * cfg.clients_per_station):
            idx = torch.from_numpy(keep[parts[k]]).to(device)
            x, y = x_dev[idx], y_dev[idx]
            if s in cfg.shuffled_label_stations:
                g = torch.Generator().manual_seed(derive_seed(cfg.seed, 3, k))
                y = y[torch.randperm(len(y), generator=g).to(device)]
            clients.append((x, y))
        stations.append(tuple(clients))
    return Federation(data.info, tuple(stations), (data.x_test.to(device), data.y_test.to(device)), labels)


__all__ = [
    "CIFAR10_FILES",
    "CIFAR10_FOLDER",
    "Client",
    "DATASET_INFO",
    "DataError",
    "DatasetInfo",
    "Federation",
    "ImageSet",
    "build_federation",
    "class_map",
    "derive_seed",
    "fit_to_job",
    "info_for",
    "label_skew",
    "load_cifar10",
    "load_dataset",
    "load_digits_set",
    "load_folder",
    "partition",
    "write_fake_cifar10",
]
