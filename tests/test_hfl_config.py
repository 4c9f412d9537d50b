"""hfl.config: validation names the field; proposals map to jobs; configs round-trip through JSON."""

from __future__ import annotations

import json

import pytest

from hfl.config import ConfigError, TrainConfig, bitmask_from_labels, labels_from_bitmask


@pytest.mark.parametrize("changes, field", [
    ({"model": "vgg"}, "model"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": float("nan")}, "alpha"),
    ({"n_stations": 0}, "n_stations"),
    ({"kappa2": 1.5}, "kappa2"),
    ({"target_labels": (3, 3)}, "target_labels"),
    ({"eval_labels": (10,)}, "eval_labels"),
    ({"shuffled_label_stations": (4,)}, "shuffled_label_stations"),
    ({"kappa1_unit": "minutes"}, "kappa1_unit"),
])
def test_a_bad_field_is_named_by_the_error(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**changes)
    assert err.value.field == field and str(err.value).startswith(field)


def test_alpha_is_not_checked_for_an_iid_split():
    assert TrainConfig(iid=True, alpha=0.0).iid


def test_a_proposal_bitmask_selects_its_target_labels():
    assert labels_from_bitmask(0b1000000101) == (0, 2, 9)
    assert bitmask_from_labels([9, 0, 2]) == 0b1000000101
    cfg = TrainConfig.for_proposal(0x7, 3, global_rounds=2)
    assert cfg.labels == (0, 1, 2) and cfg.n_stations == 3 and cfg.global_rounds == 2
    assert cfg.scored_labels == (0, 1, 2)
    assert cfg.replace(eval_labels=[1, 5]).scored_labels == (1, 5)
    with pytest.raises(ConfigError, match="target_labels"):
        labels_from_bitmask(1 << 10)


def test_the_config_round_trips_through_json():
    cfg = TrainConfig(target_labels=[4, 1], shuffled_label_stations=[2], alpha=0.25)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.target_labels == (4, 1)
    with pytest.raises(ConfigError, match="colour"):
        TrainConfig.from_dict({"colour": "red"})
