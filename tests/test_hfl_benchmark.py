"""`python -m benchmarks.hfl` measures hierarchical and centralized training in one run."""

from __future__ import annotations

import json

import torch

from benchmarks.hfl import main

torch.set_num_threads(1)


def test_the_benchmark_reports_both_modes_with_their_ratio(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--stations", "2", "--clients-per-station", "2", "--rounds", "1", "--runs", "1",
                 "--kappa1", "1", "--kappa2", "1", "--max-train-samples", "200", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    modes = [r["mode"] for r in data["results"]]
    assert modes[0] == "centralized" and any(m.startswith("hierarchical") for m in modes[1:])
    assert all(r["mean"] > 0 for r in data["results"])
    printed = capsys.readouterr().out
    assert "x central" in printed and "hierarchical / centralized" in printed and "CPU time" in printed
    assert all(r["cpu_time_mean"] > 0 for r in data["results"])
