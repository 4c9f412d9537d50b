"""Scenarios: the seeded sample is a valid round, and bad files fail with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hcfl_cli.scenario import GWEI, load_scenario, sample_scenario
from mechanism import deposit_bounds
from mechanism import settle


def test_sample_scenario_is_seeded_and_every_deposit_covers_its_reveal_bound() -> None:
    a, b = sample_scenario(3), sample_scenario(3)
    assert a == b and a != sample_scenario(4)
    need_o, need_s = deposit_bounds(a.budgets, a.owner_weights, a.owner_values, a.station_costs)
    assert all(d >= n for d, n in zip(a.owner_deposits, need_o))
    assert all(d >= n for d, n in zip(a.station_deposits, need_s))
    assert len({p.labels for p in a.proposals}) == len(a.proposals)
    assert settle(**a.profile()).winner is not None


def _write(tmp_path: Path, data: object, suffix: str = ".json") -> Path:
    path = tmp_path / f"scenario{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else str(data))
    return path


GOOD = {
    "owners": [{"weight": 1, "values": [30, 0]}, {"weight": 2, "values": [0, 20]}],
    "stations": [{"weight": 1, "costs": [5, 5]}],
    "proposals": [{"owner": 0, "labels": [0, 1], "budget": 10}, {"owner": 1, "labels": [2], "budget": 10}],
}


def test_a_json_scenario_is_read_in_gwei() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        sc = load_scenario(_write(Path(d), GOOD))
    assert sc.owner_values == [[30 * GWEI, 0], [0, 20 * GWEI]]
    assert sc.proposals[1].label_mask == 0b100


def test_a_toml_scenario_is_read(tmp_path: Path) -> None:
    text = """
seed = 2
[[owners]]
values = [3]
[[stations]]
costs = [1]
[[proposals]]
owner = 0
labels = [4]
budget = 2
"""
    sc = load_scenario(_write(tmp_path, text, ".toml"))
    assert sc.seed == 2 and sc.budgets == [2 * GWEI]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (lambda d: d["owners"][1].update(values=[1]), "owners[1].values"),
        (lambda d: d["stations"][0].update(costs=[5, -1]), "stations[0].costs[1]"),
        (lambda d: d["proposals"][0].update(labels=[11]), "proposals[0].labels"),
        (lambda d: d["proposals"][1].pop("budget"), "proposals[1].budget"),
        (lambda d: d["owners"][0].update(weight=0), "owners[0].weight"),
        (lambda d: d["owners"][0].update(deposit=1), "owners[0].deposit"),
        (lambda d: d.pop("stations"), "scenario.stations"),
    ],
)
def test_a_bad_scenario_file_names_the_field(tmp_path: Path, patch, field: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(GOOD))
    patch(data)
    with pytest.raises(ValueError, match=rf"^--scenario .*: {__import__('re').escape(field)}"):
        load_scenario(_write(tmp_path, data))


def test_an_unreadable_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
    bad = tmp_path / "bad.toml"
    bad.write_text("owners = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_scenario(bad)
