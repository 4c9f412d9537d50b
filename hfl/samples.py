"""Small, learnable image sets written in every format `hfl.folders` reads (nothing is downloaded).

For tests and demonstrations: each class is a fixed coarse pattern (and colour) plus pixel noise,
so a short run learns it, and each file is in the real on-disk format (PNG files in an ImageFolder,
pickled CIFAR batches, big-endian idx-ubyte MNIST files, a MATLAB .mat file for SVHN, a
participant's .npz folder), read back through the same code as the published sets.

    python -m hfl.samples imagefolder /tmp/shapes        # then: python -m hfl --data-dir /tmp/shapes
    python -m hfl.samples --help
"""

from __future__ import annotations

import argparse
import pickle
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hfl.catalog import CIFAR100_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES
from hfl.folders import CIFAR100_FOLDER, FORMATS, MNIST_FILES, MNIST_FOLDERS, SVHN_FILES


def patterned(n: int, n_classes: int, shape: tuple[int, int, int], rng: np.random.Generator,
              templates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` images uint8 [n, C, H, W] of `n_classes` classes (in equal numbers) and the
    per-class templates they are noisy copies of: a 4x4 grid of levels per channel, upsampled."""
    c, h, w = shape
    if templates is None:
        levels = rng.choice(np.array([40, 128, 215]), size=(n_classes, c, 4, 4))
        rows = np.minimum(np.arange(h) * 4 // h, 3)
        cols = np.minimum(np.arange(w) * 4 // w, 3)
        templates = levels[:, :, rows][:, :, :, cols].astype(np.int16)  # [K, C, H, W]
    y = rng.permutation(np.arange(n) % n_classes)  # balanced: every class appears once n >= n_classes
    x = templates[y] + rng.integers(-35, 36, size=(n, c, h, w))
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64), templates


def _splits(n_train: int, n_test: int, n_classes: int, shape: tuple[int, int, int], seed: int
            ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x_tr, y_tr, templates = patterned(n_train, n_classes, shape, rng)
    x_te, y_te, _ = patterned(n_test, n_classes, shape, rng, templates)
    return (x_tr, y_tr), (x_te, y_te)


def write_imagefolder(root: Path | str, *, classes: Sequence[str] = ("circle", "square", "triangle"),
                      size: tuple[int, int] = (16, 16), channels: int = 3, n_train: int = 48, n_test: int = 24,
                      seed: int = 0) -> Path:
    """`root/train/<class>/*.png` and `root/test/<class>/*.png` (torchvision's ImageFolder layout), images of
    `size` (height, width) with `channels` 1 (grey) or 3."""
    from PIL import Image

    if min(n_train, n_test) < len(classes):
        raise ValueError(f"n_train, n_test: at least one image per class ({len(classes)}) in each split")
    root = Path(root)
    for split, (x, y) in zip(("train", "test"), _splits(n_train, n_test, len(classes), (channels, *size), seed)):
        for i, (img, label) in enumerate(zip(x, y)):
            d = root / split / classes[int(label)]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[0] if channels == 1 else img.transpose(1, 2, 0)).save(d / f"{i:05d}.png")
    return root


def write_cifar10(root: Path | str, *, n_train: int = 500, n_test: int = 100, seed: int = 0) -> Path:
    """`root/cifar-10-batches-py/` in the CIFAR-10 python format (see `hfl.data.write_fake_cifar10`)."""
    from hfl.data import write_fake_cifar10

    return write_fake_cifar10(root, n_train=n_train, n_test=n_test, seed=seed)


def write_cifar100(root: Path | str, *, n_train: int = 500, n_test: int = 100, used: int = 10,
                   seed: int = 0) -> Path:
    """`root/cifar-100-python/{train,test,meta}` in the CIFAR-100 python format; the samples are of
    the first `used` of its 100 classes (a small set cannot teach a hundred)."""
    folder = Path(root) / CIFAR100_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in zip(("train", "test"), _splits(n_train, n_test, used, (3, 32, 32), seed)):
        with open(folder / name, "wb") as f:
            pickle.dump({"filenames": [f"{name}_{i}.png" for i in range(len(y))], "batch_label": f"{name} batch",
                         "fine_labels": [int(v) for v in y], "coarse_labels": [int(v) // 5 for v in y],
                         "data": x.reshape(len(x), -1)}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": list(CIFAR100_CLASSES),
                     "coarse_label_names": [f"superclass{i}" for i in range(20)]}, f)
    return Path(root)


def _idx(path: Path, array: np.ndarray) -> None:
    """An idx-ubyte file (LeCun's format): magic 0x08 (unsigned byte) and the dimensions, big-endian."""
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path | str, *, fashion: bool = False, n_train: int = 300, n_test: int = 100,
                seed: int = 0) -> Path:
    """`root/MNIST/raw/` (or `FashionMNIST/raw/`) with the four idx-ubyte files, as torchvision keeps them."""
    raw = Path(root) / MNIST_FOLDERS["fashion-mnist" if fashion else "mnist"] / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    n_classes = len(FASHION_MNIST_CLASSES if fashion else MNIST_CLASSES)
    for split, (x, y) in zip(("train", "test"), _splits(n_train, n_test, n_classes, (1, 28, 28), seed)):
        images, labels = MNIST_FILES[split]
        _idx(raw / images, x[:, 0])
        _idx(raw / labels, y.astype(np.uint8))
    return Path(root)


def write_svhn(root: Path | str, *, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """`root/train_32x32.mat` and `root/test_32x32.mat` as SVHN publishes them: X [32, 32, 3, n] and
    y [n, 1] with the digit 0 written as 10."""
    import scipy.io

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in zip(("train", "test"), _splits(n_train, n_test, 10, (3, 32, 32), seed)):
        scipy.io.savemat(root / SVHN_FILES[split], {"X": x.transpose(2, 3, 1, 0),
                                                    "y": np.where(y == 0, 10, y).astype(np.uint8)[:, None]})
    return root


def write_npz(root: Path | str, *, n: int = 200, seed: int = 0) -> Path:
    """A participant's .npz folder of 3x16x16 images of four classes (`hfl.local_data.write_data_folder`)."""
    from hfl.local_data import write_data_folder

    (x, y), _ = _splits(n, 1, 4, (3, 16, 16), seed)
    return write_data_folder(Path(root), x, y, "patterns", classes=("a", "b", "c", "d"))


WRITERS = {"imagefolder": write_imagefolder, "cifar10": write_cifar10, "cifar100": write_cifar100,
           "mnist": write_mnist, "fashion-mnist": lambda root, **kw: write_mnist(root, fashion=True, **kw),
           "svhn": write_svhn, "npz": write_npz}
assert set(WRITERS) == set(FORMATS)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hfl.samples",
                                description="Write a small, learnable image set in one of the formats hfl reads, "
                                            "to try `python -m hfl --data-dir` or `hcfl localnet --data-dir` on.")
    p.add_argument("format", choices=FORMATS)
    p.add_argument("folder", type=Path)
    p.add_argument("--train", type=int, default=None, help="training images (npz: all its images)")
    p.add_argument("--test", type=int, default=None, help="test images (not for npz)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    kw: dict[str, int] = {"seed": args.seed}
    if args.format == "npz":
        if args.train is not None:
            kw["n"] = args.train
    else:
        if args.train is not None:
            kw["n_train"] = args.train
        if args.test is not None:
            kw["n_test"] = args.test
    path = WRITERS[args.format](args.folder, **kw)
    print(f"wrote a {args.format} folder at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["WRITERS", "patterned", "write_cifar10", "write_cifar100", "write_imagefolder", "write_mnist", "write_npz",
           "write_svhn"]
