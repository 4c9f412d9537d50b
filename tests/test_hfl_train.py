"""hfl.train: HierFAVG reduces to FedAvg, runs deterministically per station, and learns digits."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from hfl.aggregate import weighted_average
from hfl.config import TrainConfig
from hfl.data import DATASET_INFO, build_federation, write_fake_cifar10
from hfl.models import build_model
from hfl.batches import make_schedule, prepare_batch, station_generator
from hfl.train import evaluate, init_state, sgd_step, station_update, train

torch.set_num_threads(1)


def fedavg_reference(cfg: TrainConfig, clients) -> dict[str, torch.Tensor]:
    """Plain FedAvg (McMahan et al.): each round every client runs torch.optim.SGD from the global
    model over its batches, then the global model is their sample-weighted average. Batches come
    from the trainer's schedule so that both see the same data order."""
    info = DATASET_INFO[cfg.dataset]
    device = torch.device("cpu")
    x = torch.cat([c[0] for c in clients])
    y = torch.cat([c[1] for c in clients])
    sizes = [len(c[1]) for c in clients]
    assert len(set(sizes)) > 1  # uneven clients: the sample-count weights matter
    model = build_model(cfg.model, info.in_channels, info.num_classes)
    state = init_state(cfg)
    for r in range(cfg.global_rounds):
        gen = station_generator(cfg, r, 0, device)
        sched = make_schedule(sizes, cfg, gen, device)
        client_states = []
        for k in range(len(clients)):
            local = copy.deepcopy(model)
            local.load_state_dict(state)
            opt = torch.optim.SGD(local.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay)
            for s in range(sched.idx.shape[0]):
                nv = int(sched.valid[s, k])
                if nv:
                    idx = sched.idx[s, k, :nv]
                    loss = F.cross_entropy(local(prepare_batch(x[idx], info, augment=False, gen=None)), y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            client_states.append({n: v.detach().clone() for n, v in local.state_dict().items()})
        state = weighted_average(client_states, sizes)
    return state


@pytest.mark.parametrize("unit", ["epochs", "steps"])
def test_one_station_with_one_edge_round_is_fedavg(unit):
    cfg = TrainConfig(n_stations=1, clients_per_station=4, kappa2=1, kappa1=2, kappa1_unit=unit, global_rounds=2,
                      alpha=0.5, max_train_samples=240, seed=4)
    fed = build_federation(cfg)
    result = train(cfg, federation=fed, measure=False)
    ref = fedavg_reference(cfg, fed.stations[0])
    assert result.final_state is not None
    for name, value in ref.items():
        torch.testing.assert_close(result.final_state[name], value, rtol=0, atol=2e-6)


def test_sgd_step_follows_torch_sgd_and_a_masked_step_moves_only_the_active_clients():
    cfg = TrainConfig(lr=0.1, momentum=0.9, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, generator=gen)
    grads = [torch.randn(3, 4, generator=gen) for _ in range(3)]
    ref = start.clone().requires_grad_(True)
    opt = torch.optim.SGD([ref], lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    full, full_buf = start.clone(), torch.zeros(3, 4)
    masked, masked_buf = start.clone(), torch.zeros(3, 4)
    active = torch.tensor([True, False, True])
    for g in grads:
        ref.grad = g.clone()
        opt.step()
        sgd_step([full], [g], [full_buf], cfg)
        sgd_step([masked], [g], [masked_buf], cfg, active)
    torch.testing.assert_close(full, ref.detach(), rtol=0, atol=1e-6)
    # Active clients: the unmasked arithmetic to the bit; the other one: untouched weights, no momentum.
    assert torch.equal(masked[active], full[active]) and torch.equal(masked_buf[active], full_buf[active])
    assert torch.equal(masked[1], start[1]) and not masked_buf[1].any()


def test_vectorized_clients_train_exactly_like_client_by_client():
    # Uneven clients (259 ... 18 samples): the small ones sit out most vmapped steps. One edge round:
    # training is chaotic enough that a 1e-7 change of the start grows to 1e-3 over two, so the
    # paths (equal up to float rounding, 3e-8 here) are compared over one.
    cfg = TrainConfig(n_stations=2, clients_per_station=5, alpha=0.3, kappa1=2, kappa2=1, seed=1)
    fed = build_federation(cfg)
    start = init_state(cfg)
    looped, n1 = station_update(start, fed.stations[1], cfg.replace(vectorize=False), 3, 1)
    vmapped, n2 = station_update(start, fed.stations[1], cfg.replace(vectorize=True), 3, 1)
    assert n1 == n2 == sum(len(y) for _, y in fed.stations[1])
    for name in looped:
        torch.testing.assert_close(vmapped[name], looped[name], rtol=0, atol=1e-5)
        assert not torch.equal(looped[name], start[name])


def test_station_update_depends_only_on_seed_round_and_station():
    cfg = TrainConfig(n_stations=2, clients_per_station=3, seed=7)
    fed = build_federation(cfg)
    start = init_state(cfg)
    a, _ = station_update(start, fed.stations[0], cfg, 2, 0)
    b, _ = station_update(start, fed.stations[0], cfg, 2, 0)
    c, _ = station_update(start, fed.stations[0], cfg, 3, 0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_station_update_in_another_process_reproduces_the_in_process_model(tmp_path):
    cfg = TrainConfig(n_stations=2, clients_per_station=2, global_rounds=1, seed=9)
    fed = build_federation(cfg)
    mine, _ = station_update(init_state(cfg), fed.stations[1], cfg, 0, 1)
    script = (
        "import json, sys, torch\ntorch.set_num_threads(1)\n"
        "from hfl.config import TrainConfig\nfrom hfl.data import build_federation\n"
        "from hfl.train import init_state, station_update\n"
        "cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))\n"
        "state, n = station_update(init_state(cfg), build_federation(cfg).stations[1], cfg, 0, 1)\n"
        "torch.save(state, sys.argv[2])\n"
    )
    out = tmp_path / "state.pt"
    subprocess.run([sys.executable, "-c", script, json.dumps(cfg.to_dict()), str(out)], check=True)
    theirs = torch.load(out)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_short_hierarchical_run_learns_digits_beyond_80_percent():
    # Non-IID (Dirichlet 0.5) over 3 stations x 4 clients; seeds 0-4 all reach >= 92% by round 4.
    result = train(TrainConfig(n_stations=3, clients_per_station=4, global_rounds=4, seed=0), measure=False)
    assert len(result.accuracy) == 4
    assert result.final_accuracy > 0.80, result.accuracy
    assert result.images == 4 * 2 * 2 * 1437 and result.images_per_s > 0


def test_a_station_with_label_shuffled_data_contributes_less_than_clean_stations():
    cfg = TrainConfig(n_stations=4, clients_per_station=2, iid=True, global_rounds=3, shuffled_label_stations=(2,),
                      seed=0)
    result = train(cfg)
    assert result.contribution_exact and result.shapley is not None
    bad = result.contributions[2]
    assert all(bad < c for j, c in enumerate(result.contributions) if j != 2), result.contributions
    assert result.loo[2] < min(v for j, v in enumerate(result.loo) if j != 2), result.loo


def test_training_and_evaluation_are_restricted_to_the_target_labels():
    cfg = TrainConfig(n_stations=2, clients_per_station=2, global_rounds=2, target_labels=(0, 1, 2), seed=0)
    result = train(cfg, measure=False)
    fed = build_federation(cfg)
    assert result.final_state is not None
    on_target = evaluate(result.final_state, fed.test, cfg)
    assert on_target == result.final_accuracy and on_target > 0.8
    # Labels the model never saw are missed.
    assert evaluate(result.final_state, fed.test, cfg, labels=[5, 6]) < 0.05


def test_resnet18_with_batch_norm_trains_client_by_client_on_cifar_shaped_data(tmp_path):
    root = write_fake_cifar10(tmp_path / "cifar", n_train=16, n_test=8)
    cfg = TrainConfig(model="resnet18", dataset="cifar10", data_dir=str(root), n_stations=1, clients_per_station=2,
                      iid=True, kappa1=1, kappa1_unit="steps", kappa2=1, batch_size=4, global_rounds=1)
    fed = build_federation(cfg)
    start = init_state(cfg)
    assert start["conv1.weight"].shape == (64, 3, 3, 3)  # the CIFAR stem
    new, n = station_update(start, fed.stations[0], cfg, 0, 0)
    assert n == 16
    assert not torch.equal(new["bn1.running_mean"], start["bn1.running_mean"])  # batch norm statistics move
    assert 0.0 <= evaluate(new, fed.test, cfg) <= 1.0
