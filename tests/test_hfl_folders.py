"""hfl.folders: image data in the formats people have, written here in their real on-disk layouts
(PNG files, pickled CIFAR batches, idx-ubyte MNIST files, a MATLAB .mat for SVHN, an .npz folder),
detected, read back exactly, fitted to a job's classes by name, and every bad folder refused in one
line naming it (`python -m hfl` exits 2)."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hfl.__main__ import main
from hfl.config import ConfigError, TrainConfig, resolve_labels
from hfl.data import fit_to_job, load_folder
from hfl.folders import DataError, describe_folder, detect_format, read_split
from hfl.samples import WRITERS, write_imagefolder, write_mnist

torch.set_num_threads(1)

SMALL = {"npz": {"n": 40}}
EXPECTED = {  # format -> (dataset name, classes, shape)
    "imagefolder": ("imagefolder", 3, (3, 16, 16)),
    "cifar10": ("cifar10", 10, (3, 32, 32)),
    "cifar100": ("cifar100", 100, (3, 32, 32)),
    "mnist": ("mnist", 10, (1, 28, 28)),
    "fashion-mnist": ("fashion-mnist", 10, (1, 28, 28)),
    "svhn": ("svhn", 10, (3, 32, 32)),
    "npz": ("patterns", 4, (3, 16, 16)),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    return {fmt: write(root / fmt, **SMALL.get(fmt, {"n_train": 30, "n_test": 12}))
            for fmt, write in WRITERS.items()}


def _labels_on_disk(fmt: str, folder: Path, split: str) -> list[int]:
    """The labels as the files hold them, read without hfl."""
    if fmt == "imagefolder":
        classes = sorted(d.name for d in (folder / split).iterdir())
        return [classes.index(p.parent.name) for c in classes for p in sorted((folder / split / c).iterdir())]
    if fmt == "cifar10":
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        out = []
        for n in names:
            with open(folder / "cifar-10-batches-py" / n, "rb") as f:
                out += pickle.load(f, encoding="latin1")["labels"]
        return out
    if fmt == "cifar100":
        with open(folder / "cifar-100-python" / split, "rb") as f:
            return pickle.load(f, encoding="latin1")["fine_labels"]
    if fmt in ("mnist", "fashion-mnist"):
        sub = "MNIST" if fmt == "mnist" else "FashionMNIST"
        name = "train-labels-idx1-ubyte" if split == "train" else "t10k-labels-idx1-ubyte"
        return list((folder / sub / "raw" / name).read_bytes()[8:])  # 8 header bytes: magic, count
    if fmt == "svhn":
        import scipy.io

        y = scipy.io.loadmat(folder / f"{split}_32x32.mat")["y"].ravel()
        return [0 if v == 10 else int(v) for v in y]  # SVHN writes the digit 0 as 10
    with np.load(folder / "data.npz") as npz:
        return npz["y"].tolist()


@pytest.mark.parametrize("fmt", list(EXPECTED))
def test_each_format_is_detected_and_read_with_its_classes_shape_and_the_labels_on_disk(folders, fmt):
    folder = folders[fmt]
    info = describe_folder(folder)
    name, n_classes, shape = EXPECTED[fmt]
    assert (info.fmt, info.dataset, len(info.classes), info.shape) == (fmt, name, n_classes, shape)
    for split in ("train", "test"):
        data = read_split(folder, split)
        assert data.x.dtype == torch.uint8 and tuple(data.x.shape[1:]) == shape
        assert data.y.tolist() == _labels_on_disk(fmt, folder, split)


def test_an_image_folder_is_read_pixel_for_pixel_and_a_grey_one_has_one_channel(tmp_path):
    colour = write_imagefolder(tmp_path / "rgb", classes=("cat", "dog"), size=(10, 12), n_train=6, n_test=4)
    first = sorted((colour / "train" / "cat").iterdir())[0]
    data = read_split(colour, "train")
    assert tuple(data.x.shape[1:]) == (3, 10, 12)  # (C, H, W) of a 12-wide, 10-high image
    assert torch.equal(data.x[0], torch.from_numpy(np.array(Image.open(first))).permute(2, 0, 1))
    grey = write_imagefolder(tmp_path / "grey", classes=("cat", "dog"), channels=1, n_train=6, n_test=4)
    assert describe_folder(grey).shape == (1, 16, 16)


def test_bare_mnist_files_are_mnist_unless_fashion_mnist_is_forced_or_hinted(tmp_path):
    raw = tmp_path / "idx"  # the four files as one downloads them, in a folder of any name
    shutil.move(str(write_mnist(tmp_path / "m", n_train=20, n_test=10) / "MNIST" / "raw"), str(raw))
    assert detect_format(raw) == "mnist"
    assert detect_format(raw, hint="fashion-mnist") == "fashion-mnist"
    assert describe_folder(raw, fmt="fashion-mnist").classes[0] == "T-shirt/top"
    for f in raw.iterdir():  # the published .gz files, not yet unpacked
        with open(f, "rb") as src, gzip.open(f.with_name(f.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        f.unlink()
    with pytest.raises(DataError, match="gunzip"):
        read_split(raw)


def test_a_folder_is_fitted_to_a_jobs_classes_by_name(tmp_path):
    mine = write_imagefolder(tmp_path / "mine", classes=("dog", "zebra", "cat"), n_train=9, n_test=3)
    job = TrainConfig(dataset="imagefolder", classes=("cat", "dog", "bird"), image_shape=(3, 16, 16))
    data = read_split(mine, "train")
    x, y = fit_to_job(data.x, data.y, data.info.classes, data.info.shape, job, "mine")
    names = [data.info.classes[i] for i in data.y.tolist()]
    kept = [n for n in names if n != "zebra"]  # the job has no zebras: left out
    assert [job.class_names[i] for i in y.tolist()] == kept and len(x) == len(kept)
    with pytest.raises(ConfigError, match="3x16x16") as err:
        fit_to_job(data.x, data.y, data.info.classes, data.info.shape, job.replace(image_shape=(1, 16, 16)), "mine")
    assert err.value.field == "dataset"


def test_target_labels_are_given_by_class_name_or_index():
    classes = ("cat", "dog", "3")
    assert resolve_labels("dog,0", classes) == (1, 0)
    assert resolve_labels(["3", 1], classes) == (2, 1)  # a class named "3" is found by its name
    with pytest.raises(ConfigError, match="'cow' is not one of the classes"):
        resolve_labels("cow", classes)


@pytest.mark.parametrize("fmt", list(EXPECTED))
def test_python_m_hfl_trains_on_each_format(folders, fmt, tmp_path):
    out = tmp_path / "out"
    assert main(["--data-dir", str(folders[fmt]), "--stations", "1", "--clients-per-station", "2", "--rounds", "1",
                 "--kappa1", "2", "--kappa1-unit", "steps", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "result.json").read_text())["config"]
    assert config["dataset"] == EXPECTED[fmt][0] and config["data_dir"] == str(folders[fmt])
    assert TrainConfig.from_dict(config).data_shape == EXPECTED[fmt][2]


def _no_train(root: Path) -> Path:
    write_imagefolder(root / "src", n_train=6, n_test=3)
    shutil.move(str(root / "src" / "train"), str(root / "bad"))  # class folders with no train/ above them
    return root / "bad"


def _empty_class(root: Path) -> Path:
    folder = write_imagefolder(root / "bad", n_train=6, n_test=3)
    (folder / "train" / "hexagon").mkdir()
    return folder


def _mixed_sizes(root: Path) -> Path:
    folder = write_imagefolder(root / "bad", n_train=6, n_test=3)
    Image.new("RGB", (20, 20)).save(folder / "train" / "square" / "big.png")
    return folder


def _unknown(root: Path) -> Path:
    (root / "bad").mkdir()
    (root / "bad" / "notes.txt").write_text("not images")
    return root / "bad"


@pytest.mark.parametrize("make, says", [
    (_no_train, "has no train/ folder"),
    (_empty_class, "class folder train/hexagon holds no images"),
    (_mixed_sizes, "mixes image sizes"),
    (_unknown, "is in no format HCFL reads"),
    (lambda root: root / "missing", "does not exist"),
])
def test_a_bad_folder_fails_in_one_line_naming_it(make, says, tmp_path, capsys):
    folder = make(tmp_path)
    with pytest.raises(DataError) as err:
        read_split(folder)
    assert says in str(err.value) and str(folder) in str(err.value) and err.value.field == "data_dir"
    assert main(["--data-dir", str(folder), "--quiet", "--out", str(tmp_path / "out")]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and line.startswith("python -m hfl: error: --data-dir: ")
    assert says in line and str(folder) in line
    from hcfl_cli.main import main as hcfl

    # localnet says so before it starts a node or makes a key; models reads the folder's description only
    for command in ("localnet",) if make is _mixed_sizes else ("localnet", "models"):
        assert hcfl([command, "--data-dir", str(folder)]) == 2
        captured = capsys.readouterr()
        line = captured.err.strip()
        assert len(line.splitlines()) == 1 and line.startswith(f"hcfl {command}: error: data_dir: ") and says in line
        assert "node:" not in captured.out


def test_a_folder_read_twice_is_decoded_once_until_its_files_change(tmp_path):
    folder = write_imagefolder(tmp_path / "f", n_train=6, n_test=3)
    assert load_folder(folder).x_train is load_folder(folder).x_train  # the same decoded tensor
    before = load_folder(folder).x_train.clone()
    img = sorted((folder / "train" / "circle").iterdir())[0]
    Image.new("RGB", (16, 16), (1, 2, 3)).save(img)
    after = load_folder(folder).x_train
    assert not torch.equal(before, after)
