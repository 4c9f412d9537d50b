"""hfl.models: torchvision's classification registry by name, each model's input adapted to the data
(first convolution to the data's channels, CIFAR stem, least input size), parameter counts on the
meta device, `hcfl models`, and a torchvision model other than the ResNets trained end to end by
`python -m hfl` on an ImageFolder."""

from __future__ import annotations

import argparse
import json
import re

import pytest
import torch
import torchvision
from torch import nn

from hfl.__main__ import main
from hfl.catalog import TORCHVISION_CLASSIFIERS
from hfl.config import ConfigError, TrainConfig
from hfl.models import (Resized, build_model, builtin_names, catalogue, has_buffers, input_plan, parameter_count,
                        resolve_plugin)
from hfl.samples import write_imagefolder
from hfl.train import init_state, station_update

torch.set_num_threads(1)


def test_the_registry_is_the_small_cnn_and_every_torchvision_classification_model():
    names = builtin_names()
    assert names[0] == "cnn" and set(names[1:]) == set(torchvision.models.list_models(module=torchvision.models))
    assert set(names[1:]) == set(TORCHVISION_CLASSIFIERS)  # the copy agents check names against without torch
    assert {"mobilenet_v3_small", "vit_b_16", "resnet50"} <= set(names)
    assert "fasterrcnn_resnet50_fpn" not in names  # detection models are not classifiers
    assert resolve_plugin("squeezenet1_1") is None
    with pytest.raises(ConfigError) as err:
        TrainConfig(model="resnet19")
    assert err.value.field == "model" and "hcfl models" in err.value.message


def test_grey_8x8_images_feed_mobilenet_through_a_one_channel_first_convolution():
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", 1, 10, (8, 8))
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1 and first.stride == (2, 2)  # its own stem, one channel in
    assert model.eval()(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert has_buffers(model)  # batch norm: trained client by client


def test_a_model_with_a_least_input_size_is_fed_its_images_resized_to_it():
    plan = input_plan("squeezenet1_1", (3, 8, 8))
    assert plan.model_size == (17, 17) and plan.adaptation == "resize"  # its weights' documented min_size
    model = build_model("squeezenet1_1", 3, 4, (8, 8))
    assert isinstance(model, Resized) and model.size == (17, 17)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4)
    assert input_plan("squeezenet1_1", (3, 32, 32)).adaptation == "none"  # large enough as it is
    # A ViT is made for one size: larger images are fed at that size too (checked on the meta device).
    assert input_plan("vit_b_16", (3, 256, 256)).model_size == (224, 224)
    assert input_plan("vit_h_14", (3, 32, 32)).model_size == (224, 224)


def test_the_resnets_keep_the_cifar_stem_on_small_images_and_the_imagenet_stem_on_large_ones():
    small = build_model("resnet18", 3, 10, (32, 32))
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1) and isinstance(small.maxpool, nn.Identity)
    assert input_plan("resnext50_32x4d", (1, 28, 28)).adaptation == "cifar-stem"
    plan = input_plan("resnet18", (3, 224, 224))
    assert plan.adaptation == "none"
    large = build_model("resnet18", 1, 10, (224, 224))
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    # Today's configs build the same ResNet-18 as before: the CIFAR stem, the same initial weights.
    cfg = TrainConfig(model="resnet18", dataset="cifar10")
    torch.manual_seed(cfg.seed)
    reference = torchvision.models.resnet18(weights=None, num_classes=10)
    reference.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    reference.maxpool = nn.Identity()
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in init_state(cfg).items())


@pytest.mark.parametrize("name, shape", [("squeezenet1_1", (3, 8, 8)), ("mobilenet_v3_small", (1, 28, 28)),
                                         ("resnet18", (3, 32, 32))])
def test_parameter_counts_on_the_meta_device_are_those_of_the_built_model(name, shape):
    built = build_model(name, shape[0], 7, shape[1:])
    assert parameter_count(name, shape, 7) == sum(p.numel() for p in built.parameters())


def test_every_registry_model_is_counted_on_the_meta_device_regnets_included():
    # RegNet's builder computes its widths with tensors it reads back: counted all the same.
    assert parameter_count("regnet_y_400mf", (3, 32, 32), 10) == 3_907_554
    assert parameter_count("vit_h_14", (3, 32, 32), 10) > 600_000_000  # no memory spent on it


def test_a_model_with_dropout_trains_the_same_model_for_the_same_seed_round_and_station(tmp_path):
    cfg = TrainConfig(model="squeezenet1_1", dataset="digits", kappa1=2, kappa1_unit="steps", batch_size=8,
                      clients_per_station=1, lr=0.01)
    assert any(isinstance(m, nn.Dropout) for m in build_model("squeezenet1_1", 1, 10, (8, 8)).modules())
    g = torch.Generator().manual_seed(0)
    clients = ((torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(16) % 10),)
    start = init_state(cfg)
    torch.manual_seed(123)  # the global RNG's state does not matter: each station seeds its own
    a, _ = station_update(start, clients, cfg, 0, 0)
    torch.manual_seed(456)
    b, _ = station_update(start, clients, cfg, 0, 0)
    c, _ = station_update(start, clients, cfg, 0, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_the_models_command_lists_the_registry_with_counts_and_keeps_them_in_its_cache(tmp_path, monkeypatch,
                                                                                        capsys):
    from hcfl_cli.commands.models import add_parser, cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["models", "squeezenet1_1", "resnet18", "--shape", "1x28x28", "--classes", "5"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"{parameter_count('squeezenet1_1', (1, 28, 28), 5):,}" in out and "28x28 (CIFAR stem)" in out
    cache = next(cache_dir().glob("models-*-1x28x28-5.json"))
    rows = json.loads(cache.read_text())
    rows["resnet18"][0] = 42  # a later call reads the cache instead of building the model again
    cache.write_text(json.dumps(rows))
    assert [r.params for r in catalogue((1, 28, 28), 5, names=["resnet18"], cache_dir=cache_dir())] == [42]
    args = parser.parse_args(["models", "no_such_net"])
    assert args.func(args) == 2 and "no such model" in capsys.readouterr().out


def test_squeezenet_trains_end_to_end_on_an_image_folder_by_python_m_hfl(tmp_path, capsys):
    # SqueezeNet 1.1 is fed these 16x16 images resized to its least input size, 17x17.
    folder = write_imagefolder(tmp_path / "shapes", n_train=120, n_test=30, seed=1)
    out = tmp_path / "out"
    argv = ["--model", "squeezenet1_1", "--data-dir", str(folder), "--labels", "circle,square,triangle",
            "--stations", "2", "--clients-per-station", "1", "--iid", "--rounds", "3", "--kappa1", "20",
            "--kappa1-unit", "steps", "--kappa2", "1", "--batch-size", "16", "--lr", "0.002", "--contribution", "loo",
            "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    cfg = result["config"]
    assert cfg["model"] == "squeezenet1_1" and cfg["dataset"] == "imagefolder" and cfg["target_labels"] == [0, 1, 2]
    assert cfg["classes"] == ["circle", "square", "triangle"] and cfg["image_shape"] == [3, 16, 16]
    assert result["final_accuracy"] >= 0.6  # three classes: chance is a third
    printed = re.search(r"final accuracy ([0-9.]+)%", capsys.readouterr().out)
    assert printed and float(printed.group(1)) == pytest.approx(100 * result["final_accuracy"], abs=0.01)
