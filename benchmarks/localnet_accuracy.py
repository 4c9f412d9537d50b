"""What accuracy ``hcfl localnet``'s jobs can reach: the figure its promises are chosen from.

Claim: the promise of a localnet proposal is one the honest winner's model keeps on the
other owners' own held-out sets, at the default size (4 owners, 4 stations) and at the
paper's (10 and 10), so that an honest winner keeps its bond.

Method: the data is split exactly as ``hcfl localnet`` splits it (``split_for_localnet``:
each station its Dirichlet(0.5) share of the train split, each owner its own IID share of
the test split), the stations' clients are built from their folders as the Flower ClientApp
builds them (``hfl.local_data.station_clients``), and HierFAVG runs in this process with the
trainer's own code (``station_update`` and ``cloud_aggregate``: the model Flower's deployment
engine trains from the same data, without its processes). Each proposal's target labels are
drawn as localnet draws them (the two common labels and one to three of the proposer's own).
Every owner then measures the model on its own held-out set for those labels, as its agent
does before it votes. For each size, training config and number of global rounds, the table
gives the owners' measurements over ``--seeds`` scenarios (each a new split and new targets):
the lowest, the 10th percentile and the median, and the share of measurements at or above
each candidate promise.

    python -m benchmarks.localnet_accuracy                 # 4x4 and 10x10, the configs below
    python -m benchmarks.localnet_accuracy --seeds 3 --sizes 4x4
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from hfl.aggregate import cloud_aggregate
from hfl.config import TrainConfig
from hfl.data import derive_seed
from hfl.local_data import read_data_folder, split_for_localnet, station_clients, write_data_folder
from hfl.train import evaluate, init_state, station_update

CONFIGS = {
    "2 epochs x 2 (batch 32)": {"clients_per_station": 2, "kappa1": 2, "kappa2": 2},
    "2 epochs x 2 (batch 8)": {"clients_per_station": 2, "kappa1": 2, "kappa2": 2, "batch_size": 8},
    "20 steps x 2 (batch 16)": {"clients_per_station": 2, "kappa1": 20, "kappa1_unit": "steps", "kappa2": 2,
                                "batch_size": 16},
}
PROMISES = (5000, 6000, 7000)


def targets(rng: random.Random) -> tuple[int, ...]:
    """A proposal's target labels, as ``hcfl_cli.localnet_plan.draw_plan`` draws them."""
    core = rng.sample(range(10), 2)
    rest = [lab for lab in range(10) if lab not in core]
    return tuple(sorted(core + rng.sample(rest, rng.randint(1, 3))))


def measurements(owners: int, stations: int, train: dict, rounds: int, seed: int, folder: Path) -> list[float]:
    """Every owner's measurement of the model of one scenario after ``rounds`` global rounds."""
    split_s, split_o = split_for_localnet("digits", stations, owners, seed=seed, alpha=0.5)
    station_dirs = [write_data_folder(folder / f"s{j}", x, y, "digits") for j, (x, y) in enumerate(split_s)]
    owner_dirs = [write_data_folder(folder / f"o{i}", x, y, "digits") for i, (x, y) in enumerate(split_o)]
    labels = targets(random.Random(seed))
    cfg = TrainConfig(model="cnn", dataset="digits", target_labels=labels, global_rounds=rounds,
                      n_stations=stations, device="cpu", **train)
    clients = [station_clients(d, cfg, derive_seed(cfg.seed, j)) for j, d in enumerate(station_dirs)]
    state = init_state(cfg, "cpu")
    for r in range(rounds):
        state = cloud_aggregate([station_update(state, c, cfg, r, j) for j, c in enumerate(clients) if c])
    return [float(evaluate(state, read_data_folder(d, split="test").client, cfg, labels=labels)) for d in owner_dirs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8, help="scenarios per row (default 8)")
    ap.add_argument("--sizes", default="4x4,10x10", help="owners x stations, comma-separated (default 4x4,10x10)")
    ap.add_argument("--rounds", default="1,2,3", help="global rounds, comma-separated (default 1,2,3)")
    args = ap.parse_args()
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    print(f"{'size':>6} {'train config':>26} {'rounds':>6} {'lowest':>7} {'p10':>6} {'median':>7} "
          + " ".join(f">={p / 100:.0f}%" for p in PROMISES) + f" {'s/run':>6}")
    for owners, stations in sizes:
        for name, train in CONFIGS.items():
            for rounds in (int(r) for r in args.rounds.split(",")):
                got: list[float] = []
                t0 = time.perf_counter()
                for seed in range(args.seeds):
                    with tempfile.TemporaryDirectory() as tmp:
                        got += measurements(owners, stations, train, rounds, seed, Path(tmp))
                per_run = (time.perf_counter() - t0) / args.seeds
                got.sort()
                p10 = got[len(got) // 10]
                share = " ".join(f"{sum(a * 10_000 >= p for a in got) / len(got):5.0%}" for p in PROMISES)
                print(f"{owners}x{stations:<4} {name:>26} {rounds:>6} {got[0]:7.1%} {p10:6.1%} "
                      f"{statistics.median(got):7.1%} {share} {per_run:6.1f}", flush=True)


if __name__ == "__main__":
    main()
