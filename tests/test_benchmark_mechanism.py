"""The mechanism benchmark runs, checks both paths agree, and prints its table."""

from __future__ import annotations

import pytest

from benchmarks.mechanism import main, make_profile, run


def test_quick_benchmark_prints_a_table_with_every_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--repeats", "1", "--proposals", "10"]) == 0
    out = capsys.readouterr().out
    for n in ("250", "500", "1,000"):
        assert n in out


def test_benchmark_rows_time_both_paths_on_the_same_profile() -> None:
    rows = run([100, 200], m=5, repeats=1)
    assert [r.participants for r in rows] == [100, 200]
    assert all(r.exact_ms > 0 and r.numpy_ms > 0 for r in rows)


def test_profiles_have_half_owners_and_half_stations() -> None:
    p = make_profile(11, 3)
    assert p["owner_values"].shape == (5, 3) and p["station_costs"].shape == (6, 3)
