"""hfl.local_data: participants' own data folders, the local network's split, model files and an owner's evaluation."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from hfl.config import ConfigError, TrainConfig
from hfl.data import CIFAR10_FOLDER, DataError, load_digits_set, write_fake_cifar10
from hfl.local_data import (DATA_FILE, META_FILE, evaluate_model_file, file_sha256, load_model, read_data_folder,
                            save_model, split_for_localnet, station_clients, write_data_folder)
from hfl.train import init_state, station_update

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits_split():
    return split_for_localnet("digits", 3, 2, seed=5, alpha=0.5, data_dir=None)


def _folder(tmp_path, x, y, name="station"):
    return write_data_folder(tmp_path / name, x, y, "digits")


# Data folders ---------------------------------------------------------------------------------


def test_a_data_folder_reads_back_the_samples_written(tmp_path, digits_split):
    (x, y), *_ = digits_split[0]
    folder = _folder(tmp_path, x, y)
    data = read_data_folder(folder)
    assert data.dataset == "digits" and len(data) == len(y)
    assert data.x.dtype == torch.uint8 and data.y.dtype == torch.int64
    assert np.array_equal(data.x.numpy(), x) and np.array_equal(data.y.numpy(), y)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["dataset"] == "digits" and meta["shape"] == [1, 8, 8] and len(meta["label_names"]) == 10


def test_a_missing_folder_or_file_is_a_data_error_naming_data_dir(tmp_path, digits_split):
    with pytest.raises(DataError) as err:
        read_data_folder(tmp_path / "nowhere")
    assert err.value.field == "data_dir" and "does not exist" in str(err.value)
    (x, y), *_ = digits_split[0]
    folder = _folder(tmp_path, x, y)
    (folder / DATA_FILE).unlink()
    with pytest.raises(DataError, match=DATA_FILE):
        read_data_folder(folder)


def test_a_corrupt_data_file_is_a_data_error(tmp_path, digits_split):
    (x, y), *_ = digits_split[0]
    folder = _folder(tmp_path, x, y)
    (folder / DATA_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="corrupt"):
        read_data_folder(folder)
    (folder / META_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_data_folder(folder)


def test_wrong_dtypes_and_out_of_range_labels_are_refused(tmp_path, digits_split):
    (x, y), *_ = digits_split[0]
    with pytest.raises(DataError, match="uint8"):
        write_data_folder(tmp_path / "a", x.astype(np.float32), y, "digits")
    with pytest.raises(DataError, match="int64"):
        write_data_folder(tmp_path / "b", x, y.astype(np.int32), "digits")
    folder = _folder(tmp_path, x, y)
    bad = y.copy()
    bad[0] = 10
    with open(folder / DATA_FILE, "wb") as f:  # written behind the writer's back
        np.savez(f, x=x, y=bad)
    with pytest.raises(DataError, match="labels must lie in 0..9"):
        read_data_folder(folder)


def test_a_data_file_holding_pickled_objects_is_refused(tmp_path, digits_split):
    (x, y), *_ = digits_split[0]
    folder = _folder(tmp_path, x, y)
    with open(folder / DATA_FILE, "wb") as f:
        np.savez(f, x=np.array([object()], dtype=object), y=y)
    with pytest.raises(DataError, match="corrupt"):
        read_data_folder(folder)


def test_a_cifar10_python_folder_is_read_as_a_station_and_an_owner_folder(tmp_path):
    root = write_fake_cifar10(tmp_path / "cifar", n_train=40, n_test=15, seed=1)
    train = read_data_folder(root)
    test = read_data_folder(root / CIFAR10_FOLDER, split="test")
    assert train.dataset == "cifar10" and len(train) == 40 and train.x.shape[1:] == (3, 32, 32)
    assert len(test) == 15
    with open(root / CIFAR10_FOLDER / "test_batch", "rb") as f:
        assert test.y.tolist() == pickle.load(f, encoding="latin1")["labels"]


# The local network's split ---------------------------------------------------------------------


def test_stations_shares_are_disjoint_and_cover_the_train_split(digits_split):
    stations, _ = digits_split
    full = load_digits_set()
    x_all = np.concatenate([x for x, _ in stations])
    y_all = np.concatenate([y for _, y in stations])
    assert len(y_all) == len(full.y_train)
    # Every training image appears exactly once across stations (compare images as byte strings).
    rows = sorted(map(bytes, x_all.reshape(len(x_all), -1)))
    ref = sorted(map(bytes, full.x_train.numpy().reshape(len(full.y_train), -1)))
    assert rows == ref
    assert np.bincount(y_all, minlength=10).tolist() == np.bincount(full.y_train.numpy(), minlength=10).tolist()
    # Dirichlet(0.5) over 3 stations: their label mixes differ.
    mixes = [np.bincount(y, minlength=10) / len(y) for _, y in stations]
    assert max(np.abs(mixes[0] - mixes[1]).sum(), np.abs(mixes[1] - mixes[2]).sum()) > 0.2


def test_owners_held_out_sets_are_disjoint_shares_of_the_test_split(digits_split):
    _, owners = digits_split
    full = load_digits_set()
    a, b = (set(map(bytes, x.reshape(len(x), -1))) for x, _ in owners)
    assert not (a & b)
    assert sum(len(y) for _, y in owners) == len(full.y_test)


def test_the_split_is_a_function_of_its_seed(digits_split):
    again = split_for_localnet("digits", 3, 2, seed=5, alpha=0.5, data_dir=None)
    other = split_for_localnet("digits", 3, 2, seed=6, alpha=0.5, data_dir=None)
    assert all(np.array_equal(y1, y2) for (_, y1), (_, y2) in zip(digits_split[0], again[0]))
    assert [len(y) for _, y in digits_split[0]] != [len(y) for _, y in other[0]]


def test_bad_split_arguments_name_their_field():
    with pytest.raises(ConfigError) as err:
        split_for_localnet("digits", 0, 2, seed=0, alpha=0.5)
    assert err.value.field == "n_stations"
    with pytest.raises(ConfigError) as err:
        split_for_localnet("mnist", 2, 2, seed=0, alpha=0.5)
    assert err.value.field == "dataset"


def test_a_stations_clients_are_its_own_folder_split_on_the_target_labels(tmp_path, digits_split):
    (x, y), *_ = digits_split[0]
    folder = _folder(tmp_path, x, y)
    cfg = TrainConfig(clients_per_station=3, target_labels=(0, 1, 2, 3, 4))
    clients = station_clients(folder, cfg, station_seed=9)
    assert len(clients) == 3
    got = torch.cat([cy for _, cy in clients])
    wanted = np.isin(y, cfg.labels)
    assert len(got) == int(wanted.sum()) and set(got.tolist()) <= set(cfg.labels)
    assert sorted(got.tolist()) == sorted(y[wanted].tolist())
    again = station_clients(folder, cfg, station_seed=9)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(clients, again))
    with pytest.raises(ConfigError) as err:
        station_clients(folder, cfg.replace(dataset="cifar10"), station_seed=9)
    assert err.value.field == "dataset"


# Model files -----------------------------------------------------------------------------------


def test_a_model_file_round_trips_with_its_config_and_hash(tmp_path):
    cfg = TrainConfig(seed=4, target_labels=(1, 2))
    state = init_state(cfg)
    path = tmp_path / "model.pt"
    digest = save_model(path, state, cfg)
    assert digest == file_sha256(path) and len(digest) == 64
    cfg2, state2 = load_model(path)
    assert cfg2 == cfg
    assert state2.keys() == state.keys() and all(torch.equal(state[k], state2[k]) for k in state)
    # The file is what weights_only loading accepts: no pickled code in it.
    assert isinstance(torch.load(path, weights_only=True), dict)


def test_a_model_file_with_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": "hcfl-model/1", "config": "{}", "state": Evil()}, path)
    with pytest.raises(ValueError, match="^model:"):
        load_model(path)
    assert not marker.exists()


def test_a_model_file_that_does_not_fit_its_config_is_refused_naming_the_field(tmp_path):
    cfg = TrainConfig()
    state = init_state(cfg)
    path = tmp_path / "m.pt"
    save_model(path, state, cfg)
    doc = torch.load(path, weights_only=True)
    doc["config"] = json.dumps(cfg.replace(dataset="cifar10").to_dict())  # 3 input channels, not 1
    torch.save(doc, path)
    with pytest.raises(ValueError, match="^state:"):
        load_model(path)
    doc["config"] = "not json"
    torch.save(doc, path)
    with pytest.raises(ValueError, match="^config:"):
        load_model(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="^model:"):
        load_model(path)
    with pytest.raises(ValueError, match="^state:"):
        save_model(tmp_path / "x.pt", {k: v for k, v in list(state.items())[1:]}, cfg)


def test_a_model_trained_a_little_scores_higher_on_an_owners_set_than_a_fresh_one(tmp_path, digits_split):
    stations, owners = digits_split
    cfg = TrainConfig(seed=2, kappa1=2, kappa2=1, clients_per_station=2, device="cpu")
    fresh = init_state(cfg)
    x, y = stations[0]
    clients = station_clients(_folder(tmp_path, x, y), cfg, station_seed=1)
    trained, _ = station_update(fresh, clients, cfg, 0, 0)
    save_model(tmp_path / "fresh.pt", fresh, cfg)
    save_model(tmp_path / "trained.pt", trained, cfg)
    owner = write_data_folder(tmp_path / "owner", *owners[0], "digits")
    labels = sorted(set(y.tolist()))
    before = evaluate_model_file(tmp_path / "fresh.pt", owner, labels)
    after = evaluate_model_file(tmp_path / "trained.pt", owner, labels)
    assert after > before + 0.2
    with pytest.raises(ConfigError) as err:
        evaluate_model_file(tmp_path / "trained.pt", owner, [12])
    assert err.value.field == "labels"
