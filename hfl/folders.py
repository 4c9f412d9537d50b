"""Image data in the formats people have, read from a local folder; nothing is ever downloaded.

The format is detected from the folder's layout (`describe_folder`), or forced (`fmt=`):

| format | the folder holds | read by |
|---|---|---|
| `imagefolder` | `train/<class>/*.png` and `test/<class>/...` (any image type PIL reads) | `torchvision.datasets.ImageFolder` |
| `cifar10` | `cifar-10-batches-py/` (or is it), the python format | `torchvision.datasets.CIFAR10` |
| `cifar100` | `cifar-100-python/` (or is it), the python format | `torchvision.datasets.CIFAR100` |
| `mnist` | `MNIST/raw/` or the four `*-idx?-ubyte` files | `torchvision.datasets.MNIST` |
| `fashion-mnist` | `FashionMNIST/raw/` (or the four files, forced) | `torchvision.datasets.FashionMNIST` |
| `svhn` | `train_32x32.mat`, `test_32x32.mat` | `torchvision.datasets.SVHN` (scipy) |
| `npz` | `data.npz` + `meta.json`: a participant's own share (`hfl.local_data`) | numpy, `allow_pickle=False` |

torchvision's readers run with `download=False` and their md5 checks replaced by presence checks
(a folder one made oneself, or a test's small copy, is as valid as the published archive). The
classes, channels and image size come from the data: an `ImageFolder`'s classes are its class
folders' names (the union over `train/` and `test/`, sorted), its channels 1 when every image is
grey, else 3. The other formats have their published classes. An `npz` folder holds one set of
samples (no train/test split): its `meta.json` names its classes, shape and the data's origin.

Every problem is a `DataError` (a `ValueError` whose field is `data_dir`) in one line naming the
folder: no such folder, an unknown layout, class folders without `train/`, a class with no
images, images of different sizes, a file that does not decode.

`describe_folder` is cheap (no pixel is decoded beyond one image per class) and imports no torch,
so an agent can check a proposal against its folder without training anything.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hfl.catalog import CIFAR10_CLASSES, KNOWN
from hfl.config import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

FORMATS = ("imagefolder", "cifar10", "cifar100", "mnist", "fashion-mnist", "svhn", "npz")
SPLITS = ("train", "test")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_FILES = ("train", "test", "meta")
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's root/<Class>/raw
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
DATA_FILE = "data.npz"
META_FILE = "meta.json"
DATA_FORMAT = "hcfl-data/1"
# torchvision.datasets.folder.IMG_EXTENSIONS (copied: this module imports no torch at load time).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
LAYOUTS = ("ImageFolder (train/<class>/*.png and test/<class>/...), CIFAR-10 "
           f"({CIFAR10_FOLDER}/{{{','.join(CIFAR10_FILES)}}}), CIFAR-100 ({CIFAR100_FOLDER}/{{train,test,meta}}), "
           "MNIST or Fashion-MNIST raw (MNIST/raw/ or FashionMNIST/raw/ with train-images-idx3-ubyte, "
           "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), SVHN (train_32x32.mat, "
           f"test_32x32.mat), or a participant's {DATA_FILE} + {META_FILE}")


class DataError(ConfigError):
    """The data folder is missing, of an unknown layout, or corrupt (field `data_dir`)."""

    def __init__(self, message: str) -> None:
        super().__init__("data_dir", message)


@dataclass(frozen=True)
class FolderInfo:
    """What a data folder holds, without its pixels."""

    folder: Path  # as given
    fmt: str  # one of FORMATS
    dataset: str  # the data's name: the format's, or an npz folder's origin
    classes: tuple[str, ...]  # label l is classes[l]
    shape: tuple[int, int, int]  # (channels, height, width)
    root: Path  # what the reader opens (e.g. the folder holding cifar-10-batches-py)


@dataclass(frozen=True)
class LabeledImages:
    """One split of a folder: x uint8 [n, C, H, W], y int64 [n] (indices into `info.classes`), on the CPU."""

    info: FolderInfo
    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.numel())


# Detection ----------------------------------------------------------------------------------------


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _named_root(folder: Path, sub: str) -> Path | None:
    """The folder holding `sub` when `folder` is it or holds it."""
    if (folder / sub).is_dir():
        return folder
    if folder.name == sub:
        return folder.parent
    return None


def _has_idx(folder: Path) -> bool:
    return any((folder / f).is_file() or (folder / (f + ".gz")).is_file()
               for f in MNIST_FILES["train"] + MNIST_FILES["test"])


def _mnist_raw(folder: Path, fmt: str) -> Path | None:
    """Where an MNIST-like set's idx files lie: torchvision's <folder>/<Class>/raw (or the folder is
    <Class>, or its raw/), else the folder itself when it holds them (unless it is the other set's)."""
    cls = MNIST_FOLDERS[fmt]
    for raw in (folder / cls / "raw", folder / "raw" if folder.name == cls else None):
        if raw is not None and _has_idx(raw):
            return raw
    if not _has_idx(folder):
        return None
    others = [c for f, c in MNIST_FOLDERS.items() if f != fmt]
    if folder.name in others or (folder.name == "raw" and folder.parent.name in others):
        return None
    return folder


def _layout(folder: Path, fmt: str) -> Path | None:
    """The reader's root when `folder` is laid out as `fmt`, else None."""
    if fmt == "npz":
        return folder if (folder / DATA_FILE).exists() or (folder / META_FILE).exists() else None
    if fmt == "cifar10":
        return _named_root(folder, CIFAR10_FOLDER)
    if fmt == "cifar100":
        return _named_root(folder, CIFAR100_FOLDER)
    if fmt in MNIST_FOLDERS:
        return _mnist_raw(folder, fmt)
    if fmt == "svhn":
        return folder if any((folder / f).is_file() for f in SVHN_FILES.values()) else None
    if fmt == "imagefolder":
        return folder if any((folder / s).is_dir() for s in SPLITS) else None
    raise ConfigError("dataset", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def detect_format(folder: Path, hint: str | None = None) -> str:
    """The format of `folder` (see the module doc); `hint` settles MNIST vs Fashion-MNIST's same files."""
    folder = _existing(folder)
    found = [fmt for fmt in FORMATS if _layout(folder, fmt) is not None]
    if "mnist" in found and "fashion-mnist" in found:  # the bare files: MNIST unless told otherwise
        found.remove("fashion-mnist" if hint != "fashion-mnist" else "mnist")
    if found:
        return hint if hint in found else found[0]
    subdirs = [d for d in sorted(folder.iterdir()) if d.is_dir()]
    if any(any(_is_image(f) for f in os.listdir(d)) for d in subdirs):
        raise DataError(f"data folder {folder} has no train/ folder: its class folders ({', '.join(d.name for d in subdirs[:5])}"
                        f"{', ...' if len(subdirs) > 5 else ''}) belong in train/ (and a held-out set in test/), "
                        f"the ImageFolder layout")
    raise DataError(f"data folder {folder} is in no format HCFL reads; expected one of: {LAYOUTS}")


def _existing(folder: Path | str) -> Path:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist; expected a folder in one of these layouts: {LAYOUTS}")
    return folder


# Description ---------------------------------------------------------------------------------------


def describe_folder(folder: Path | str, *, fmt: str | None = None, hint: str | None = None) -> FolderInfo:
    """Format, classes and image shape of a data folder (see the module doc), checked; cheap.

    `fmt` forces a format (a `DataError` when the folder is not laid out so); otherwise it is
    detected, `hint` (e.g. a job's dataset name) choosing between formats the folder fits alike.
    """
    folder = _existing(folder)
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError("dataset", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if _layout(folder, fmt) is None:
            raise DataError(f"data folder {folder} is not in the {fmt} layout; expected one of: {LAYOUTS}")
    else:
        fmt = detect_format(folder, hint)
    root = _layout(folder, fmt)
    assert root is not None
    if fmt == "npz":
        return _describe_npz(folder)
    if fmt == "imagefolder":
        classes, shape = _describe_imagefolder(folder)
        return FolderInfo(folder, fmt, "imagefolder", classes, shape, root)
    known = KNOWN[fmt]
    return FolderInfo(folder, fmt, fmt, known.classes, known.shape, root)


def _class_folders(split_dir: Path) -> list[Path]:
    return sorted((d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _images_of(class_dir: Path) -> list[Path]:
    """The images of one class folder, as torchvision's ImageFolder finds them (recursively, sorted)."""
    found = []
    for root, _, files in sorted(os.walk(class_dir, followlinks=True)):
        found.extend(Path(root) / f for f in sorted(files) if _is_image(f))
    return found


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"data folder: {path} is not an image PIL can read ({exc})") from exc


def _describe_imagefolder(folder: Path) -> tuple[tuple[str, ...], tuple[int, int, int]]:
    splits = [s for s in SPLITS if (folder / s).is_dir()]
    if "train" not in splits:
        raise DataError(f"data folder {folder} has no train/ folder (ImageFolder layout: train/ and test/ with one "
                        f"folder per class)")
    names: set[str] = set()
    first: Path | None = None
    colour = False
    for s in splits:
        classes = _class_folders(folder / s)
        if not classes:
            raise DataError(f"data folder {folder}: {s}/ holds no class folders (ImageFolder layout: {s}/<class>/*.png)")
        for d in classes:
            images = _images_of(d)
            if not images:
                raise DataError(f"data folder {folder}: class folder {s}/{d.name} holds no images "
                                f"({', '.join(IMAGE_EXTENSIONS)})")
            names.add(d.name)
            with _open_image(images[0]) as img:
                colour = colour or img.mode not in GREY_MODES
                if first is None:
                    first, size = images[0], img.size
                elif img.size != size:
                    raise DataError(f"data folder {folder} mixes image sizes: {images[0].relative_to(folder)} is "
                                    f"{img.size[0]}x{img.size[1]}, {first.relative_to(folder)} is {size[0]}x{size[1]}; "
                                    f"resize them to one size")
    assert first is not None
    w, h = size
    return tuple(sorted(names)), (3 if colour else 1, h, w)


def _describe_npz(folder: Path) -> FolderInfo:
    missing = [name for name in (DATA_FILE, META_FILE) if not (folder / name).is_file()]
    if missing:
        raise DataError(f"data folder {folder} lacks {', '.join(missing)}; expected {DATA_FILE} and {META_FILE} "
                        f"(written by hfl.local_data.write_data_folder) or a folder in one of these layouts: {LAYOUTS}")
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"data folder {folder}: {META_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != DATA_FORMAT:
        raise DataError(f"data folder {folder}: {META_FILE} is not an {DATA_FORMAT} description")
    dataset = meta.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise DataError(f"data folder {folder}: {META_FILE} names no dataset")
    names = meta.get("label_names")
    if names is None and dataset in KNOWN:
        names = KNOWN[dataset].classes
    shape = meta.get("shape")
    if shape is None and dataset in KNOWN:
        shape = KNOWN[dataset].shape
    if not isinstance(names, list | tuple) or len(names) < 2 or not all(isinstance(n, str) for n in names) \
            or len(set(names)) != len(names):
        raise DataError(f"data folder {folder}: {META_FILE} needs label_names, two or more distinct class names")
    if not isinstance(shape, list | tuple) or len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
        raise DataError(f"data folder {folder}: {META_FILE} needs shape [channels, height, width], got {shape!r}")
    return FolderInfo(folder, "npz", dataset, tuple(names), (shape[0], shape[1], shape[2]), folder)


# Reading ---------------------------------------------------------------------------------------------


def read_split(folder: Path | str, split: str = "train", *, fmt: str | None = None,
               hint: str | None = None) -> LabeledImages:
    """The `split` ("train" or "test") of a data folder as uint8 tensors, checked (see the module doc).

    An `npz` folder holds one set, returned for either split.
    """
    if split not in SPLITS:
        raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    return read_described(describe_folder(folder, fmt=fmt, hint=hint), split)


def read_described(info: FolderInfo, split: str) -> LabeledImages:
    """`read_split` of a folder `describe_folder` described already (`info`): a caller that
    reads both splits walks the folder once."""
    x, y = _READERS[info.fmt](info, split)
    import torch

    where = f"data folder {info.folder}"
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise DataError(f"{where}: images must be uint8 [n, C, H, W], got {x.dtype} {list(x.shape)}")
    if tuple(x.shape[1:]) != info.shape:
        raise DataError(f"{where}: images must have shape [n, {', '.join(map(str, info.shape))}], got {list(x.shape)}")
    if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
        raise DataError(f"{where}: {len(x)} images but labels of {y.dtype} {list(y.shape)}")
    if len(y) == 0:
        raise DataError(f"{where}: holds no samples")
    n = len(info.classes)
    if int(y.min()) < 0 or int(y.max()) >= n:
        raise DataError(f"{where}: labels must lie in 0..{n - 1} for {info.dataset}, got {int(y.min())}..{int(y.max())}")
    return LabeledImages(info, x.contiguous(), y.contiguous())


def _read_cifar(info: FolderInfo, split: str) -> tuple[Tensor, Tensor]:
    import torch
    from torchvision.datasets import CIFAR10, CIFAR100

    base = CIFAR10 if info.fmt == "cifar10" else CIFAR100
    name, files = ("CIFAR-10", CIFAR10_FILES) if info.fmt == "cifar10" else ("CIFAR-100", CIFAR100_FILES)
    sub = base.base_folder
    expected = f"expected {info.root / sub}/{{{','.join(files)}}} in the {name} python format"
    missing = [f for f in files if not (info.root / sub / f).is_file()]
    if missing:
        raise DataError(f"{name} folder {info.root} lacks {', '.join(missing)}; {expected}")

    class LocalCIFAR(base):  # type: ignore[misc, valid-type]
        """torchvision's reader with the md5 check replaced by a presence check (see the module doc)."""

        def _check_integrity(self) -> bool:
            return True  # presence checked above

        def _load_meta(self) -> None:
            self.classes = list(info.classes)

    try:
        ds = LocalCIFAR(str(info.root), train=split == "train", download=False)
        x = np.asarray(ds.data)
        y = np.asarray(ds.targets, dtype=np.int64)
    except Exception as exc:  # pickle, EOF, shape and key errors all mean the same to the user
        raise DataError(f"{name} folder {info.root} is corrupt ({type(exc).__name__}: {exc}); {expected}") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(y) != len(x) or len(x) == 0:
        raise DataError(f"{name} folder {info.root} is corrupt (images of shape {x.shape} {x.dtype}, {len(y)} labels); "
                        f"{expected}")
    # HWC -> CHW once, here, so that the hot path never permutes.
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)


def _read_mnist(info: FolderInfo, split: str) -> tuple[Tensor, Tensor]:
    from torchvision.datasets import MNIST, FashionMNIST

    files = MNIST_FILES[split]
    missing = [f for f in files if not (info.root / f).is_file()]
    if missing:
        zipped = [f for f in missing if (info.root / (f + ".gz")).is_file()]
        hint = f" (found {', '.join(f + '.gz' for f in zipped)}: gunzip them)" if zipped else ""
        raise DataError(f"MNIST-format folder {info.root} lacks {', '.join(missing)}{hint}")
    base = MNIST if info.fmt == "mnist" else FashionMNIST
    raw = str(info.root)

    class LocalMNIST(base):  # type: ignore[misc, valid-type]
        """torchvision's reader of the raw idx files, wherever they lie."""

        @property
        def raw_folder(self) -> str:
            return raw

        def _check_legacy_exist(self) -> bool:
            return False

    try:
        ds = LocalMNIST(raw, train=split == "train", download=False)
    except Exception as exc:
        raise DataError(f"MNIST-format folder {info.root} is corrupt ({type(exc).__name__}: {exc})") from exc
    x, y = ds.data, ds.targets
    if x.dim() != 3 or len(x) != len(y):
        raise DataError(f"MNIST-format folder {info.root} is corrupt (images {list(x.shape)}, labels {list(y.shape)})")
    return x.unsqueeze(1), y.long()


def _read_svhn(info: FolderInfo, split: str) -> tuple[Tensor, Tensor]:
    import torch
    from torchvision.datasets import SVHN

    name = SVHN_FILES[split]
    if not (info.root / name).is_file():
        raise DataError(f"SVHN folder {info.root} lacks {name}")

    class LocalSVHN(SVHN):
        def _check_integrity(self) -> bool:
            return True  # presence checked above

    try:
        ds = LocalSVHN(str(info.root), split=split, download=False)
        x = np.asarray(ds.data)
        y = np.asarray(ds.labels, dtype=np.int64).reshape(-1)
    except Exception as exc:
        raise DataError(f"SVHN folder {info.root}: {name} is corrupt ({type(exc).__name__}: {exc})") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise DataError(f"SVHN folder {info.root}: {name} holds images of shape {x.shape} {x.dtype}, not 32x32x3 uint8")
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def _read_imagefolder(info: FolderInfo, split: str) -> tuple[Tensor, Tensor]:
    import torch
    from torchvision.datasets import ImageFolder

    folder = info.folder
    if not (folder / split).is_dir():
        raise DataError(f"data folder {folder} has no {split}/ folder (ImageFolder layout: train/ and test/ with one "
                        f"folder per class)")
    channels, h, w = info.shape
    mode = "L" if channels == 1 else "RGB"

    class Classes(ImageFolder):
        def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
            names = [d.name for d in _class_folders(Path(directory))]  # hidden folders are no classes
            return names, {n: i for i, n in enumerate(names)}

    try:  # the samples (path, class) only: images are decoded below
        ds = Classes(str(folder / split), loader=str, allow_empty=False)
    except FileNotFoundError as exc:  # torchvision: no class folders, or a class with no valid file
        raise DataError(f"data folder {folder}: {split}/: {exc}") from exc

    def load(path: Path) -> np.ndarray:
        rel = path.relative_to(folder)
        with _open_image(path) as img:
            if img.size != (w, h):
                raise DataError(f"data folder {folder} mixes image sizes: {rel} is {img.size[0]}x{img.size[1]}, "
                                f"the first images are {w}x{h}; resize them to one size")
            if channels == 1 and img.mode not in GREY_MODES:
                raise DataError(f"data folder {folder}: {rel} is a colour image among grey ones; convert the folder to "
                                f"one mode")
            try:
                return np.asarray(img.convert(mode), dtype=np.uint8)
            except OSError as exc:  # a truncated file fails only when decoded
                raise DataError(f"data folder {folder}: {rel} does not decode ({exc})") from exc

    index = {name: i for i, name in enumerate(info.classes)}
    to_ours = np.array([index[name] for name in ds.classes], dtype=np.int64)
    x = np.stack([load(Path(path)) for path, _ in ds.samples])
    x = x[:, None] if channels == 1 else x.transpose(0, 3, 1, 2)
    y = to_ours[np.array([t for _, t in ds.samples], dtype=np.int64)]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def _read_npz(info: FolderInfo, split: str) -> tuple[Tensor, Tensor]:
    import torch

    folder = info.folder
    try:
        # allow_pickle=False: a data file from elsewhere must not run code when it is read.
        with np.load(folder / DATA_FILE, allow_pickle=False) as npz:
            if set(npz.files) != {"x", "y"}:
                raise DataError(f"data folder {folder}: {DATA_FILE} must hold exactly the arrays x and y, "
                                f"got {sorted(npz.files)}")
            x, y = npz["x"], npz["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise DataError(f"data folder {folder}: {DATA_FILE} is corrupt ({type(exc).__name__}: {exc})") from exc
    if x.dtype != np.uint8:
        raise DataError(f"data folder {folder}: images must be uint8, got {x.dtype}")
    if y.dtype != np.int64:
        raise DataError(f"data folder {folder}: labels must be int64, got {y.dtype}")
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


_READERS = {"cifar10": _read_cifar, "cifar100": _read_cifar, "mnist": _read_mnist, "fashion-mnist": _read_mnist,
            "svhn": _read_svhn, "imagefolder": _read_imagefolder, "npz": _read_npz}


def signature(folder: Path | str) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of every file under `folder`: a cache key that changes when the data does."""
    out = []
    for root, _, files in os.walk(folder, followlinks=True):
        for f in files:
            with_path = os.path.join(root, f)
            try:
                st = os.stat(with_path)
            except OSError:
                continue
            out.append((with_path, st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


__all__ = ["CIFAR100_FOLDER", "CIFAR10_CLASSES", "CIFAR10_FILES", "CIFAR10_FOLDER", "DATA_FILE", "DATA_FORMAT",
           "DataError", "FORMATS", "FolderInfo", "LabeledImages", "META_FILE", "SPLITS", "describe_folder",
           "detect_format", "read_split", "signature"]
