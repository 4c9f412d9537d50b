"""``hcfl experiment bonus``: the CSV and PNG, stations with clean data earning more as beta
grows, best responses that bring clean data once the bonus pays for it, and no lie found
beyond the proved bound."""

from __future__ import annotations

import csv

import pytest

import hcfl_cli.experiments.bonus as bonus
from hcfl_cli.experiments.bonus import BonusConfig, run_bonus, write_bonus
from hcfl_cli.main import main

TINY = BonusConfig(stations=2, betas_bps=(0, 10_000), global_rounds=1, clients_per_station=2,
                   max_train_samples=200, effort_gwei=(10, 10), lie_profiles=1, lie_grid=3)


def _fake_trainer(cfg, progress):
    """Clean data contributes 3, shuffled labels 1; accuracy is the share of clean stations."""
    cache = {}

    def run(cheap):
        key = tuple(sorted(cheap))
        if key not in cache:
            cache[key] = ((cfg.stations - len(key)) / cfg.stations,
                          tuple(1 if j in key else 3 for j in range(cfg.stations)))
            progress()
        return cache[key]

    run.cache = cache
    return run


def test_the_bonus_pays_clean_data_and_brings_it_once_it_covers_the_effort(monkeypatch, tmp_path):
    monkeypatch.setattr(bonus, "_trainer", _fake_trainer)
    cfg = BonusConfig(stations=3, betas_bps=(0, 2500, 10_000), effort_gwei=(20, 60, 100), lie_profiles=3, lie_grid=4)
    r = run_bonus(cfg)
    first, last = r.rows[0], r.rows[-1]
    assert first.good == [False, False, False] and first.accuracy == 0.0  # no bonus: no reason for the effort
    assert sum(last.good) > 0 and last.accuracy > 0
    cheap, clean = r.cheap_fixed[0], cfg.stations - 1
    assert last.fixed_utility_gwei[clean] - first.fixed_utility_gwei[clean] > last.fixed_utility_gwei[cheap] - first.fixed_utility_gwei[cheap]
    for row in r.rows:
        assert 0 <= row.max_lie_gain <= row.proved_bound
    paths = write_bonus(r, tmp_path)
    rows = list(csv.DictReader(paths[0].open()))
    assert [int(row["bonus_bps"]) for row in rows] == list(cfg.betas_bps)
    assert paths[1].stat().st_size > 0


def test_the_bonus_experiment_is_a_figure_of_the_experiment_command(tmp_path, monkeypatch):
    monkeypatch.setattr(bonus.BonusConfig, "quick", classmethod(lambda cls, seed=0: TINY))
    assert main(["experiment", "bonus", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "bonus.csv").exists() and (tmp_path / "bonus.png").exists()


@pytest.mark.slow
def test_the_quick_bonus_experiment_trains_and_respects_the_bound(tmp_path):
    r = run_bonus(BonusConfig.quick())
    assert all(0 <= row.max_lie_gain <= row.proved_bound for row in r.rows)
    assert r.trainings >= 2
