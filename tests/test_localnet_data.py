"""`hcfl localnet --data-dir DIR --model NAME`: any data folder hfl reads is split into each station's
non-IID share and each owner's held-out set, written as .npz folders the agents read, and the
proposals name the model, the data's classes and its input; without a node (no round is played)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from hcfl_cli.agent_train import describe_job_fields
from hcfl_cli.localnet import Localnet, LocalnetOptions, Party
from hfl.folders import describe_folder, read_split
from hfl.samples import write_cifar100, write_imagefolder


def _net(tmp_path: Path, **opts: object) -> Localnet:
    net = Localnet(LocalnetOptions(owners=2, stations=3, proposals=2, out=tmp_path / "net", **opts))  # type: ignore[arg-type]
    for name in ("owner0", "owner1", "station0", "station1", "station2"):
        net.parties.append(Party(name, name.rstrip("012"), net.folder / name, "0x" + "0" * 40, 1))
    net._write_data()
    net._draw_plan(random.Random(0))
    return net


def test_an_image_folder_is_split_among_the_participants_and_proposed_with_the_model_named(tmp_path):
    shapes = write_imagefolder(tmp_path / "shapes", classes=("a", "b", "c", "d", "e"), n_train=60, n_test=20)
    net = _net(tmp_path, data_dir=shapes, model="mobilenet_v3_small")
    train, test = read_split(shapes, "train"), read_split(shapes, "test")
    shares = [read_split(p.home / "data") for p in net.stations]
    held = [read_split(p.home / "data") for p in net.owners]
    assert all(describe_folder(p.home / "data").fmt == "npz" for p in net.parties)
    assert sum(len(s) for s in shares) == len(train) and sum(len(h) for h in held) == len(test)
    assert sorted(np.concatenate([s.y.numpy() for s in shares]).tolist()) == sorted(train.y.tolist())
    assert all(s.info.classes == ("a", "b", "c", "d", "e") and s.info.shape == (3, 16, 16) for s in shares + held)
    for owner in net.owners:
        plan = net.plan[owner.name]
        assert len(plan["valuation"]["value_per_label"]) == 5  # one value per class of the data
        for p in plan.get("proposals", []):
            assert p["model"] == "mobilenet_v3_small" and p["dataset"] == "imagefolder"
            job = describe_job_fields(p["model"], p["dataset"], tuple(p["labels"]), owner.home / "data")
            assert job["param_count"] == p["param_count"] and job["input"]["channels"] == 3
    meta = json.loads((net.stations[0].home / "data" / "meta.json").read_text())
    assert meta["dataset"] == "imagefolder" and meta["label_names"] == ["a", "b", "c", "d", "e"]


def test_cifar100_owners_value_its_hundred_classes_and_target_those_the_stations_hold(tmp_path):
    net = _net(tmp_path, data_dir=write_cifar100(tmp_path / "c100", n_train=60, n_test=20, used=10))
    proposals = [p for o in net.owners for p in net.plan[o.name].get("proposals", [])]
    assert proposals and all(p["dataset"] == "cifar100" and p["model"] == "cnn" for p in proposals)
    assert all(len(net.plan[o.name]["valuation"]["value_per_label"]) == 100 for o in net.owners)
    assert all(max(p["labels"]) < 10 for p in proposals)  # only the first ten classes have images here


def test_proposing_the_papers_models_and_valuing_any_imports_no_torch(tmp_path):
    """An agent proposes and commits within phases of a few seconds: proposing the small CNN on its .npz
    folder or ResNet-18 on CIFAR-10, with the parameter count given (as localnet's plans give it), and
    checking a proposal of any torchvision model must not wait for torch to load."""
    import subprocess
    import sys

    from hfl.local_data import split_for_localnet, write_data_folder

    split = split_for_localnet("digits", 1, 1, seed=0)
    write_data_folder(tmp_path / "data", *split.owners[0], "digits")
    code = f"""
import sys
from pathlib import Path
from hcfl_cli.agent_train import cannot_use, describe_job_fields
from hcfl_cli.documents import Description
job = describe_job_fields("cnn", None, (1, 3), Path({str(tmp_path / 'data')!r}), 19466)
doc = Description("cnn", job["dataset"], job["labels"], 7000, 2, job["param_count"], {{}}, {{}}, "", job["classes"],
                  job["input"], job["plugin"])
assert cannot_use(doc, Path({str(tmp_path / 'data')!r}), "station") is None
other = Description("mobilenet_v3_small", job["dataset"], job["labels"], 7000, 2, 1, {{}}, {{}}, "", job["classes"],
                    job["input"], job["plugin"])
assert cannot_use(other, Path({str(tmp_path / 'data')!r}), "owner") is None  # any torchvision name: no torch
resnet = describe_job_fields("resnet18", "cifar10", ("cat", 0), None, 11173962)
assert resnet["input"]["adaptation"] == "cifar-stem" and resnet["labels"] == (0, 3)
print("torch" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False"), out
