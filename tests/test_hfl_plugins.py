"""Models from plugins a participant installed itself: a real distribution with an `hcfl.models` entry
point, installed by pip into a folder of its own. Where it is on the path, a proposal of its model
goes end to end (proposed, valued, trained, judged; `python -m hfl` and `hcfl models` know it);
where it is not, the participant refuses the proposal in one line (a station claims its whole
deposit, an owner values it 0) and never loads the model file's code: there is none to load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.constants import ROLE_OWNER, ROLE_STATION
from contracts.records import ParticipantRecord, Proposed, Registered
from contracts.round_view import Member, RoundView
from hcfl_cli.agent_config import claims_for, config_from_dict
from hcfl_cli.bidding import bid
from hcfl_cli.agent_train import cannot_use
from hcfl_cli.documents import Description
from hfl.__main__ import main as hfl_main
from hfl.local_data import load_model, split_for_localnet, write_data_folder
from hfl.plugins import installed
from hfl.samples import write_imagefolder

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "hcfl-tinynet==0.1.0"
PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "hcfl-tinynet"
version = "0.1.0"

[project.entry-points."hcfl.models"]
tinynet = "hcfl_tinynet:build"

[tool.setuptools]
py-modules = ["hcfl_tinynet"]
"""
MODULE = """\
from torch import nn


def build(*, in_channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
    h, w = image_size
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * h * w, num_classes))
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plugin, built and installed by pip into a folder (not this environment)."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "src").mkdir()
    (root / "src" / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "hcfl_tinynet.py").write_text(MODULE)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(root / "site"), str(root / "src")], check=True, capture_output=True, timeout=300)
    assert (root / "site" / "hcfl_tinynet-0.1.0.dist-info" / "entry_points.txt").is_file()
    return root / "site"


@pytest.fixture(scope="module")
def with_plugin(plugin_site, tmp_path_factory) -> tuple[Path, dict]:
    """The participants that have the plugin, in a process whose path holds it (tests/plugin_side.py)."""
    work = tmp_path_factory.mktemp("round")
    shapes = write_imagefolder(work / "shapes", n_train=90, n_test=45, seed=2)
    split = split_for_localnet(None, 1, 1, seed=0, alpha=None, data_dir=shapes)
    write_data_folder(work / "station" / "data", *split.stations[0], split.dataset, classes=split.classes)
    write_data_folder(work / "owner" / "data", *split.owners[0], split.dataset, classes=split.classes)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(ROOT)]),
           "XDG_CACHE_HOME": str(work / "cache")}
    done = subprocess.run([sys.executable, "-m", "tests.plugin_side", str(work)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return work, json.loads(done.stdout)


def test_the_plugin_is_not_installed_in_this_process():
    assert all(p.name != "tinynet" for p in installed())


def test_an_owner_proposes_the_plugins_model_naming_its_entry_point_distribution_and_version(with_plugin):
    _, seen = with_plugin
    doc = seen["doc"]
    assert doc["model"] == "tinynet" and doc["dataset"] == "imagefolder"
    assert doc["plugin"] == {"group": "hcfl.models", "entry_point": "tinynet", "distribution": "hcfl-tinynet",
                             "version": "0.1.0"}
    assert doc["classes"] == ["circle", "square", "triangle"] and doc["target_labels"] == [0, 2]
    assert doc["input"] == {"channels": 3, "height": 16, "width": 16, "model_height": 16, "model_width": 16,
                            "adaptation": "plugin"}
    assert doc["param_count"] == 3 * 16 * 16 * 3 + 3  # the plugin's linear classifier
    assert seen["config"]["model_plugin"] == PLUGIN


def test_a_station_with_the_plugin_values_trains_and_an_owner_with_it_judges_the_model(with_plugin):
    _, seen = with_plugin
    assert seen["cannot_use"] is None and seen["said"] == []
    assert seen["claims"] == [seen["cost"]] and seen["cost"] == 3 * (7 + 1000 * seen["doc"]["param_count"] // 10**6)
    assert seen["accuracy"] >= 0.9  # the owner's own measurement on its held-out set (chance: a half)
    assert seen["named"]["model"] == "tinynet" and seen["named"]["model_plugin"] == PLUGIN
    assert seen["models_rc"] == 0 and f"plugin {PLUGIN}" in seen["models_out"]


def test_a_participant_without_the_plugin_refuses_the_proposal_in_one_line(with_plugin, tmp_path):
    work, seen = with_plugin
    doc = Description.from_bytes((work / "proposal.json").read_bytes())
    why = cannot_use(doc, work / "station" / "data", "station")
    assert why == (f"model 'tinynet' needs the plugin hcfl.models entry point 'tinynet' of {PLUGIN}, which is not "
                   f"installed here")
    # the agent then bids on it as on a document it cannot read: a station its whole deposit, an owner 0
    for role, valuation, claim in (("station", {"cost_per_round": 1}, 5000), ("owner", {"value_per_label": [9] * 3}, 0)):
        cfg = config_from_dict({"role": role, "deposit": 5000, "valuation": valuation}, tmp_path / f"{role}.toml")
        me = ParticipantRecord(ROLE_STATION if role == "station" else ROLE_OWNER, 0, 0, 1, 5000, b"")
        members = (Member(Registered(1, "0x" + "1" * 40, ROLE_OWNER, 0, 1, 5000, 1, b"\0" * 32, b"")),
                   Member(Registered(1, "0x" + "2" * 40, ROLE_STATION, 0, 1, 5000, 0, b"\0" * 32, b"")))
        view = RoundView(1, members=members, proposals=(Proposed(1, 0, "0x" + "1" * 40, 10, 1, b"\0" * 32, "", 6000,
                                                                 3, 3, 0),), phase="Commit", me=me)
        assert bid(cfg, view, [None], [None], value=claims_for).claims == (claim,)


def test_a_model_file_of_a_plugin_not_installed_here_is_refused_without_running_any_code(with_plugin):
    work, _ = with_plugin
    with pytest.raises(ValueError, match="hcfl-tinynet==0.1.0.*not installed here"):
        load_model(work / "model.pt")
    assert "hcfl_tinynet" not in sys.modules


def test_python_m_hfl_without_the_plugin_names_what_is_missing_in_one_line(with_plugin, tmp_path, capsys):
    work, _ = with_plugin
    assert hfl_main(["--model", "tinynet", "--data-dir", str(work / "shapes"), "--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("python -m hfl: error: --model: no plugin provides model 'tinynet' here (no hcfl.models entry "
                   "point of that name is installed)")
