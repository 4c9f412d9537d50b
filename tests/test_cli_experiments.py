"""The paper's experiments in a reduced size: their CSV rows and plots say what they should."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from hcfl_cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_fig3_shows_no_lie_beats_the_truth_under_clarke_but_the_best_lie_wins_under_the_papers_rule(tmp_path: Path) -> None:
    assert main(["experiment", "fig3", "--rounds", "30", "--out", str(tmp_path)]) == 0
    rows = _read(tmp_path / "fig3.csv")
    series: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        series[(r["rule"], r["dishonesty"], r["liar"])].append(float(r["accumulated_gwei"]))
    assert len(series) == 10 and all(len(s) == 30 for s in series.values())
    honest = series[("clarke", "0.0", "none")]
    for (rule, p, liar), acc in series.items():
        if rule == "clarke":
            # per round, the truthful owner is never behind: the accumulated curve never crosses
            assert all(h >= a - 1e-9 for h, a in zip(honest, acc)), (p, liar)
    assert series[("paper", "0.5", "best")][-1] > series[("paper", "0.0", "none")][-1]
    assert (tmp_path / "fig3.png").read_bytes()[:8] == PNG_MAGIC


def test_demo_prints_the_winner_and_every_participant(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "winner: 2" in out
    assert "owner 9" in out and "station 9" in out
