"""`python -m hfl`: the result file, the plot, and one-line errors for bad options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from hfl.__main__ import main
from hfl.config import TrainConfig
from hfl.data import write_fake_cifar10

torch.set_num_threads(1)

SMALL = ["--stations", "2", "--clients-per-station", "2", "--rounds", "2", "--quiet"]


def test_run_writes_result_json_with_the_spec_keys_and_a_plot(tmp_path):
    assert main([*SMALL, "--target-mask", "0x7", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    for key in ("accuracy", "final_accuracy", "contributions", "wall_s", "images_per_s", "device", "config"):
        assert key in result
    assert len(result["accuracy"]) == 2 and result["final_accuracy"] == result["accuracy"][-1]
    assert len(result["contributions"]) == 2
    assert all(isinstance(c, int) and c >= 0 for c in result["contributions"])
    assert result["device"] == "cpu" and result["images_per_s"] > 0
    assert result["config"]["target_labels"] == [0, 1, 2]
    assert TrainConfig.from_dict(result["config"]).n_stations == 2  # the config round-trips
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_data_dir_selects_cifar10(tmp_path):
    root = write_fake_cifar10(tmp_path / "cifar", n_train=40, n_test=20)
    out = tmp_path / "out"
    assert main(["--data-dir", str(root), "--stations", "1", "--clients-per-station", "2", "--rounds", "1",
                 "--kappa1", "1", "--kappa1-unit", "steps", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["config"]["dataset"] == "cifar10"


@pytest.mark.parametrize("argv, option", [
    (["--model", "no_such_net"], "--model"),
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "-2"], "--alpha"),
    (["--clients-per-station", "400"], "--clients-per-station"),
    (["--data-dir", "/no/such/folder"], "--data-dir"),
    (["--rounds", "0"], "--rounds"),
    (["--target-mask", "0x400"], "--target-mask"),
    (["--stations", "two"], "--stations"),
])
def test_a_bad_option_ends_with_one_line_naming_it(argv, option, capsys, tmp_path):
    try:
        rc = main([*argv, "--quiet", "--out", str(tmp_path)])
    except SystemExit as exc:  # argparse's own type errors
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and option in err and "Traceback" not in err, err


def test_the_missing_folder_error_names_the_expected_files(capsys, tmp_path):
    assert main(["--data-dir", str(tmp_path / "none"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cifar-10-batches-py" in err and "data_batch_1" in err and "test_batch" in err


def test_help_describes_the_command():
    out = subprocess.run([sys.executable, "-m", "hfl", "--help"], capture_output=True, text=True, check=True).stdout
    assert "hierarchical" in out and "--kappa2" in out and "--target-mask" in out


def test_the_engine_option_hands_the_same_config_to_flower(tmp_path, monkeypatch, capsys):
    import hfl.flower.engine as engine_mod
    from hfl.train import train

    seen = {}

    def fake_run_flower(cfg, engine, out_dir, *, threads=None):  # records the call, trains in process
        seen.update(cfg=cfg, engine=engine, out=out_dir)
        return train(cfg, measure=False)

    monkeypatch.setattr(engine_mod, "run_flower", fake_run_flower)
    argv = ["--engine", "flower-deploy", "--rounds", "1", "--stations", "2", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert seen["engine"] == "flower-deploy" and seen["out"] == str(tmp_path)
    assert seen["cfg"].n_stations == 2 and seen["cfg"].global_rounds == 1


def test_an_unknown_engine_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        main(["--engine", "grpc"])
    assert "--engine" in capsys.readouterr().err
