"""``hcfl round``: one full crowdfunding round in one process (the demo and the differential
harness): deposits, proposals, sealed claims, Clarke taxes, the winner's training, the vote,
the payouts, the audit and the reconciliation of every wei."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from contracts.parameters import check_bonus_bps
from hcfl_cli.commands.common import console


def add_parser(sub: Any) -> None:
    p = sub.add_parser("round", help="one full crowdfunding round on a chain, with training (the main job)",
                       description="Play one whole HCFL round: deposits, proposals, sealed claims, Clarke taxes, "
                       "hierarchical FL training of the winner, the punishment vote and the payouts, then audit it "
                       "against the reference mechanism and reconcile every wei.")
    p.add_argument("--scenario", type=Path, help="JSON/TOML scenario (default: a seeded sample, 10 owners, 10 stations)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample scenario (default 0)")
    p.add_argument("--rpc", help="JSON-RPC URL of a running node (default: titanoboa's embedded EVM)")
    p.add_argument("--node", choices=["anvil", "geth"], help="start this node on loopback for the round, stop it after")
    p.add_argument("--data-dir", type=Path, help="train on CIFAR-10 from this folder (default: scikit-learn's digits)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training device (default auto)")
    p.add_argument("--train-rounds", type=int, help="global training rounds (default: the winning proposal's)")
    p.add_argument("--out", type=Path, help="write round.json, result.json and the accuracy plot here")
    p.add_argument("--bonus-bps", type=int, default=0,
                   help="station bonus fraction in basis points, 0..10000: that part of the winner's budget goes to "
                        "the stations by their measured contributions (SPEC section 9; default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hcfl_cli.report import gas_table, gwei, participants_table, proposals_table
    from hcfl_cli.round import chain_outcome, play_round, record_json
    from hcfl_cli.scenario import load_scenario, sample_scenario

    if args.train_rounds is not None and args.train_rounds < 1:
        raise ValueError(f"--train-rounds: must be at least 1, got {args.train_rounds}")
    if args.rpc and args.node:
        raise ValueError("--rpc/--node: give one of them, not both")
    check_bonus_bps(args.bonus_bps, "--bonus-bps")
    sc = load_scenario(args.scenario) if args.scenario else sample_scenario(args.seed)
    overrides: dict = {}
    if args.data_dir:
        overrides.update(dataset="cifar10", data_dir=str(args.data_dir))
    if args.device:
        overrides["device"] = args.device
    if args.train_rounds:
        overrides["global_rounds"] = args.train_rounds
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        rpc = args.rpc
        if args.node:
            from contracts.nodes import start_node

            node = stack.enter_context(start_node(args.node))
            rpc = node.url
            console.print(f"started {args.node} at {rpc}")
        where = rpc or "titanoboa's embedded EVM"
        console.rule(f"HCFL round on {where}: {len(sc.owner_weights)} owners, {len(sc.station_weights)} stations, "
                     f"{len(sc.proposals)} proposals")
        bar = stack.enter_context(Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[acc]}"),
                                           TimeElapsedColumn(), console=console, transient=True))
        task = bar.add_task("training", total=None, acc="", visible=False)

        def on_train(rep) -> None:  # type: ignore[no-untyped-def]
            bar.update(task, visible=True, total=rep.global_rounds, completed=rep.round_idx + 1,
                       description=f"training: global round {rep.round_idx + 1}/{rep.global_rounds}",
                       acc=f"accuracy {rep.accuracy:.1%}")

        rec = play_round(sc, rpc=rpc, train_overrides=overrides, on_step=lambda m: console.log(m), on_train_round=on_train,
                         bonus_bps=args.bonus_bps)
    out = chain_outcome(rec)
    console.print(proposals_table(sc, out))
    console.print(participants_table(sc, out))
    if rec.training is not None:
        tr = rec.training
        console.print("accuracy per global round (target labels): "
                      + "  ".join(f"{i + 1}: {a:.1%}" for i, a in enumerate(tr.accuracy)))
        prop = sc.proposals[out.winner]
        console.print(f"achieved {rec.accuracy_bps / 100:.2f}% vs promised {prop.expected_accuracy_bps / 100:.0f}%; "
                      f"votes to punish {sum(p for _, p in rec.votes)}/{len(rec.votes)} -> bond "
                      f"{'SLASHED to the pool' if rec.slashed else 'returned'}; station contributions {list(tr.contributions)}")
    console.print(gas_table(rec.gas, exact=rec.chain_kind == "rpc"))
    r = rec.reconciliation
    bad = [tuple(row[:3]) for row in r.rows if row.withdrawn != row.expected]
    console.print(f"audit from the event logs: {'[green]no difference[/]' if all(a.ok for a in rec.audit) else rec.audit}")
    console.print(f"reconciliation: {len(r.rows)} withdrawals equal the reference to the wei: "
                  f"{'[green]yes[/]' if not bad else '[red]NO[/] ' + str(bad)}; pool {gwei(r.pool)} Gwei = surplus"
                  f"{' + slashed bond' if rec.slashed else ''} {gwei(r.expected_pool)} Gwei = contract balance "
                  f"{gwei(r.contract_balance)} Gwei: {'[green]yes[/]' if r.ok else '[red]NO[/]'}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "round.json").write_text(json.dumps(record_json(rec), indent=2, default=str))
        if rec.training is not None:
            from hfl.result import write_result

            write_result(rec.training, args.out)
        console.print(f"wrote {args.out / 'round.json'}" + (" and the training's result.json + plot" if rec.training else ""))
    console.print(f"round done in {time.perf_counter() - t0:.1f} s")
    ok = r.ok and all(a.ok for a in rec.audit)
    return 0 if ok else 1
