"""hfl.data: the CIFAR-10 folder loader, digits, partitioning and the federation built from a config."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hfl.config import ConfigError, TrainConfig
from hfl.data import (CIFAR10_FOLDER, DataError, build_federation, label_skew, load_cifar10, load_digits_set,
                      partition, write_fake_cifar10)

torch.set_num_threads(1)


@pytest.fixture
def fake_cifar(tmp_path):
    return write_fake_cifar10(tmp_path / "cifar", n_train=60, n_test=20, seed=3)


def test_cifar_loader_reads_a_generated_folder_into_uint8_tensors(fake_cifar):
    data = load_cifar10(fake_cifar)
    assert data.x_train.shape == (60, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (20, 3, 32, 32)
    # The labels and pixels are those written to the files (batch 1 holds the first 12 images).
    with open(fake_cifar / CIFAR10_FOLDER / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    assert data.y_train[:12].tolist() == batch["labels"]
    assert torch.equal(data.x_train[0], torch.from_numpy(batch["data"][0].reshape(3, 32, 32)))


def test_cifar_loader_rejects_a_corrupt_batch_naming_the_folder_and_files(tmp_path):
    root = write_fake_cifar10(tmp_path / "corrupt", n_train=60, n_test=20)
    (root / CIFAR10_FOLDER / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(DataError) as err:
        load_cifar10(root)
    assert err.value.field == "data_dir"
    assert "corrupt" in str(err.value) and str(root) in str(err.value) and "data_batch_1" in str(err.value)


def test_cifar_loader_rejects_a_batch_of_the_wrong_shape(tmp_path):
    root = write_fake_cifar10(tmp_path / "shape", n_train=60, n_test=20)
    with open(root / CIFAR10_FOLDER / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((20, 100), dtype=np.uint8), "labels": [0] * 20}, f)
    with pytest.raises(DataError, match="corrupt"):
        load_cifar10(root)


def test_cifar_loader_names_the_missing_files(tmp_path):
    root = write_fake_cifar10(tmp_path / "partial", n_train=60, n_test=20)
    (root / CIFAR10_FOLDER / "test_batch").unlink()
    with pytest.raises(DataError, match="lacks test_batch"):
        load_cifar10(root)
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")


def test_digits_are_real_8x8_images_split_into_train_and_test():
    d = load_digits_set()
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.dtype == torch.uint8 and int(d.x_train.max()) == 255
    assert sorted(d.y_test.unique().tolist()) == list(range(10))


@pytest.mark.parametrize("alpha", [None, 0.05, 1.0, 100.0])
def test_partition_puts_every_sample_in_exactly_one_client(alpha):
    labels = np.random.default_rng(0).integers(0, 10, size=997)
    parts = partition(labels, 23, alpha=alpha, seed=5)
    assert len(parts) == 23 and all(len(p) > 0 for p in parts)
    together = np.concatenate(parts)
    assert len(together) == 997 and np.array_equal(np.sort(together), np.arange(997))


def test_dirichlet_label_skew_grows_as_alpha_falls():
    labels = np.random.default_rng(1).integers(0, 10, size=5000)

    def skew(alpha):
        return np.mean([label_skew(partition(labels, 20, alpha=alpha, seed=s), labels, 10) for s in range(3)])

    skews = [skew(100.0), skew(1.0), skew(0.1), skew(0.01)]
    assert skews == sorted(skews), skews
    assert skews[0] < 0.1 and skews[-1] > 0.8
    assert skew(None) < 0.1  # an IID split is close to the global mix too


def test_more_clients_than_samples_is_rejected_naming_the_option():
    with pytest.raises(ConfigError) as err:
        partition(np.zeros(5, dtype=int), 6, alpha=None, seed=0)
    assert err.value.field == "clients_per_station"


def test_federation_holds_only_target_labels_each_training_sample_once_and_is_seeded():
    cfg = TrainConfig(n_stations=3, clients_per_station=4, alpha=0.3, target_labels=(1, 4, 7), seed=11)
    fed = build_federation(cfg)
    assert len(fed.stations) == 3 and all(len(s) == 4 for s in fed.stations)
    ys = torch.cat([y for station in fed.stations for _, y in station])
    digits = load_digits_set()
    assert set(ys.unique().tolist()) == {1, 4, 7}
    assert len(ys) == int(torch.isin(digits.y_train, torch.tensor([1, 4, 7])).sum())
    # Each training image appears once: compare the multiset of (image bytes, label).
    xs = torch.cat([x for station in fed.stations for x, _ in station])
    mine = sorted(zip(map(bytes, xs.reshape(len(xs), -1).numpy()), ys.tolist()))
    keep = torch.isin(digits.y_train, torch.tensor([1, 4, 7]))
    theirs = sorted(zip(map(bytes, digits.x_train[keep].reshape(int(keep.sum()), -1).numpy()),
                        digits.y_train[keep].tolist()))
    assert mine == theirs
    again = build_federation(cfg)
    assert all(torch.equal(a[1], b[1]) for s, t in zip(fed.stations, again.stations) for a, b in zip(s, t))
    other = build_federation(cfg.replace(seed=12))
    assert any(len(a[1]) != len(b[1]) for s, t in zip(fed.stations, other.stations) for a, b in zip(s, t))


def test_shuffled_label_station_keeps_its_images_and_label_counts_but_not_their_pairing():
    cfg = TrainConfig(n_stations=2, clients_per_station=2, iid=True)
    clean, noisy = build_federation(cfg), build_federation(cfg.replace(shuffled_label_stations=(1,)))
    for (xa, ya), (xb, yb) in zip(clean.stations[1], noisy.stations[1]):
        assert torch.equal(xa, xb) and torch.equal(ya.sort().values, yb.sort().values)
        assert (ya != yb).float().mean() > 0.5
    assert all(torch.equal(a[1], b[1]) for a, b in zip(clean.stations[0], noisy.stations[0]))


def test_max_train_samples_caps_the_federation():
    fed = build_federation(TrainConfig(n_stations=2, clients_per_station=3, max_train_samples=300))
    assert fed.n_train == 300
