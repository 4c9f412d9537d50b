"""`python -m hfl.flower.secure_local`: the authenticated deployment with every party on this machine.

What a real round does across machines (SPEC section 8), on loopback: the data set is split into
one folder per station and a held-out folder for the owner (`hfl.local_data.split_for_localnet`);
each station makes its node key pair and starts its SuperNode on its own folder
(`hfl.flower.secure.start_supernode`, before the SuperLink is up, as a station's agent may); the
owner makes its TLS files, starts the `SecureSuperLink` with exactly the stations' public keys and
runs the job, evaluated on its own folder. Optionally a station is lost after a given round
(`--lose-station J --after-round R`) and an unregistered SuperNode tries to join (`--intruder`).

    python -m hfl.flower.secure_local --stations 3 --rounds 2 --out runs/secure

The tests and the timings in docs/flower.md use `run_local_secure`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hfl.config import ConfigError, TrainConfig
from hfl.flower.secure_identity import NodeKeys, make_node_keys, make_tls
from hfl.flower.secure_procs import pick_port
from hfl.flower.secure_superlink import SecureSuperLink
from hfl.flower.secure_supernode import SuperNodeHandle, start_supernode
from hfl.local_data import split_for_localnet, write_data_folder


@dataclass
class LocalSecureRun:
    """What `run_local_secure` did: the result, the folders, and the processes' final census."""

    result: object  # hfl.result.TrainResult
    root: Path
    station_folders: list[Path]
    owner_folder: Path
    intruder_log: Path | None
    wall_s: float
    leftover_pids: list[int] = field(default_factory=list)


def run_local_secure(cfg: TrainConfig, root: Path, *, n_owners: int = 1, alpha: float | None = 1.0,
                     lose_station: int | None = None, after_round: int = 1, intruder: bool = False,
                     timeout_s: float = 900.0, round_timeout_s: float = 300.0,
                     progress: Callable[[int, int, float], None] | None = None) -> LocalSecureRun:
    """Split `cfg.dataset` into folders under `root`, start one authenticated SuperNode per station
    and the owner's SecureSuperLink, run `cfg`; every process is stopped before this returns."""
    t0 = time.perf_counter()
    root = Path(root)
    stations, owners = split_for_localnet(cfg.dataset, cfg.n_stations, n_owners, seed=cfg.seed, alpha=alpha,
                                          data_dir=cfg.resolved_data_dir())
    folders = [write_data_folder(root / f"station-{j}" / "data", x, y, cfg.dataset) for j, (x, y) in
               enumerate(stations)]
    owner = write_data_folder(root / "owner" / "data", *owners[0], cfg.dataset)
    tls = make_tls(root / "owner" / "tls")
    keys: list[NodeKeys] = [make_node_keys(root / f"station-{j}" / "keys") for j in range(cfg.n_stations)]
    port = pick_port()
    address = f"127.0.0.1:{port}"
    nodes: list[SuperNodeHandle] = []
    link = SecureSuperLink(tls, {j: k.public_key_bytes for j, k in enumerate(keys)}, root / "owner" / "work",
                           root / "owner" / "logs", fleet_port=port)
    intruder_log = None

    def on_round(r: int, rounds: int, accuracy: float) -> None:
        if progress is not None:
            progress(r, rounds, accuracy)
        if lose_station is not None and r == after_round:
            nodes[lose_station].stop()

    try:
        # The stations first: their SuperNodes retry until the SuperLink is up and knows their keys.
        for j in range(cfg.n_stations):
            nodes.append(start_supernode(address, tls.ca_cert, tls.ca_sha256, keys[j], folders[j],
                                         root / f"station-{j}" / "work", root / f"station-{j}" / "logs"))
        if intruder:  # a well-formed SuperNode with data and a key of its own, not registered
            x, y = stations[0]
            folder = write_data_folder(root / "intruder" / "data", x[: len(x) // 2], y[: len(y) // 2], cfg.dataset)
            nodes.append(start_supernode(address, tls.ca_cert, tls.ca_sha256, make_node_keys(root / "intruder" / "keys"),
                                         folder, root / "intruder" / "work", root / "intruder" / "logs"))
            intruder_log = nodes[-1].log_path
        link.start()
        result = link.run(cfg, timeout_s=timeout_s, round_timeout_s=round_timeout_s, progress=on_round,
                          eval_folder=owner)
    finally:
        for node in nodes:
            node.stop()
        link.stop()
    leftovers = sorted({p for n in nodes for p in n.live_pids()} | set(link.live_pids()))
    return LocalSecureRun(result, root, folders, owner, intruder_log, time.perf_counter() - t0, leftovers)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hfl.flower.secure_local", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stations", type=int, default=3, help="base stations (one SuperNode each)")
    p.add_argument("--clients", type=int, default=2, help="clients per station")
    p.add_argument("--rounds", type=int, default=2, help="global rounds")
    p.add_argument("--kappa1", type=int, default=1, help="local epochs per edge round")
    p.add_argument("--kappa2", type=int, default=1, help="edge rounds per global round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lose-station", type=int, default=None, metavar="J", help="stop station J's SuperNode ...")
    p.add_argument("--after-round", type=int, default=1, metavar="R", help="... once global round R is reported")
    p.add_argument("--intruder", action="store_true", help="also start a SuperNode whose key is not registered")
    p.add_argument("--round-timeout", type=float, default=300.0, help="seconds to wait for a round's replies")
    p.add_argument("--out", default=None, help="write OUT/result.json (default: print only)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = TrainConfig(n_stations=args.stations, clients_per_station=args.clients, global_rounds=args.rounds,
                          kappa1=args.kappa1, kappa2=args.kappa2, seed=args.seed, device="cpu")
        with tempfile.TemporaryDirectory(prefix="hcfl-secure-") as tmp:
            run = run_local_secure(cfg, Path(tmp), lose_station=args.lose_station, after_round=args.after_round,
                                   intruder=args.intruder, round_timeout_s=args.round_timeout,
                                   progress=lambda r, n, a: print(f"round {r}/{n}: accuracy {100 * a:.2f}%",
                                                                  flush=True))
    except ConfigError as exc:
        print(f"python -m hfl.flower.secure_local: error: {exc}", file=sys.stderr)
        return 2
    result = run.result
    summary = {"wall_s": round(run.wall_s, 1), "run_s": round(result.wall_s, 1), "accuracy": list(result.accuracy),
               "contributions": list(result.contributions), "station_samples": list(result.station_samples),
               "dropped": list(result.dropped), "leftover_processes": len(run.leftover_pids)}
    print(json.dumps(summary))
    if args.out:
        from hfl.result import write_result

        write_result(result, args.out, plot=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
