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


def test_fig5_vcg_never_picks_less_welfare_than_a_random_proposal() -> None:
    from hcfl_cli.experiments.fig5 import Fig5Config, run_fig5

    # Accuracy held at 1 isolates the choice itself: VCG maximizes true welfare over the proposals.
    result = run_fig5(Fig5Config(rounds=8, seed=5), accuracy=lambda labels: 1.0)
    for vcg, rnd, selfish in zip(result.rounds["VCG"], result.rounds["Random"], result.rounds["Selfish"]):
        assert vcg[1] >= rnd[1]
        assert set(selfish[0]) <= set(vcg[0])  # every proposal contains the common core
    assert result.accumulated("VCG")[-1] >= result.accumulated("Random")[-1]


def test_fig5_writes_a_row_per_strategy_and_round_with_trained_accuracies(tmp_path: Path) -> None:
    assert main(["experiment", "fig5", "--quick", "--rounds", "2", "--out", str(tmp_path)]) == 0
    rows = _read(tmp_path / "fig5.csv")
    assert sorted((r["strategy"], r["round"]) for r in rows) == sorted(
        (s, str(k)) for s in ("VCG", "Selfish", "Random") for k in (1, 2))
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0
        assert abs(float(r["social_utility_gwei"]) - float(r["welfare_gwei"]) * float(r["accuracy"])) < 1e-3 + 1e-6 * abs(float(r["welfare_gwei"]))
    assert (tmp_path / "fig5.png").read_bytes()[:8] == PNG_MAGIC


def test_fig4_trains_the_vcg_target_and_a_random_one_and_scores_both_on_the_common_core(tmp_path: Path) -> None:
    from hcfl_cli.experiments.fig4 import Fig4Config, run_fig4, write_fig4

    result = run_fig4(Fig4Config(global_rounds=2, local_epochs=1, seed=1))
    assert set(result.core) <= set(result.vcg_target)
    assert len(result.random_target) == len(result.vcg_target)
    assert len(result.vcg_accuracy) == len(result.random_accuracy) == 2
    assert all(0.0 <= a <= 1.0 for a in result.vcg_accuracy + result.random_accuracy)
    csv_path, png_path = write_fig4(result, tmp_path)
    rows = _read(csv_path)
    assert [int(r["global_round"]) for r in rows] == [1, 2]
    assert png_path.read_bytes()[:8] == PNG_MAGIC


def test_a_bad_experiment_option_ends_with_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["experiment", "fig3", "--rounds", "0"]) == 2
    assert capsys.readouterr().err.strip() == "hcfl experiment: error: --rounds: must be at least 1, got 0"
