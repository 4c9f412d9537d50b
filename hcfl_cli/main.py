"""The ``hcfl`` command: a full crowdfunding round, its audit, the paper's experiments.

Each subcommand parses its options, calls a library function, and prints with rich; errors
in the user's input end with one line naming the option (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

console = Console(log_path=False)


def _cmd_demo(args: argparse.Namespace) -> int:
    from hcfl_cli.report import participants_table, proposals_table
    from hcfl_cli.scenario import load_scenario, sample_scenario
    from mechanism import settle

    sc = load_scenario(args.scenario) if args.scenario else sample_scenario(args.seed)
    out = settle(**sc.profile(), rule=args.rule)
    console.print(proposals_table(sc, out))
    console.print(participants_table(sc, out))
    console.print(f"winner: {out.winner}   surplus (taxes + dust) to the recycle pool: {out.surplus:,} wei")
    return 0


def _cmd_round(args: argparse.Namespace) -> int:
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

        rec = play_round(sc, rpc=rpc, train_overrides=overrides, on_step=lambda m: console.log(m), on_train_round=on_train)
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
    bad = [row for row in r.rows if row[1] != row[2]]
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


def _cmd_audit(args: argparse.Namespace) -> int:
    from hcfl_cli.audit import audit_events, fetch_events, rebuild, stored_contribution_hashes

    events = fetch_events(args.rpc, args.address)
    reported = [r.round_id for r in rebuild(events) if r.report is not None]
    audits = audit_events(events, contribution_hashes=stored_contribution_hashes(args.rpc, args.address, reported),
                          address=args.address)
    if not audits:
        raise ValueError(f"--address: no HCFL round found in the logs of {args.address}")
    for a in audits:
        if not a.auditable:
            status = f"[yellow]not auditable[/]: {a.unauditable}"
        else:
            status = "[green]matches the reference[/]" if a.ok else "[red]DIFFERS[/]"
        console.print(f"round {a.round_id}: {a.participants} participants, {a.proposals} proposals: {status}")
        for d in a.differences:
            console.print(f"   {d}")
    audited = [a for a in audits if a.auditable]
    if not audited:
        console.print("[red]no round of this deployment could be audited yet[/]")
    return 0 if audited and all(a.ok for a in audited) else 1


def _cmd_account(args: argparse.Namespace) -> int:
    from contracts import keys

    if args.action == "list":
        accounts = keys.list_accounts()
        if not accounts:
            console.print(f"no accounts in {' or '.join(str(d) for d in keys.keystore_dirs())} "
                          "(hcfl account new NAME)")
        for a in accounts:
            console.print(f"{a.name:<24} {a.address}  {a.path}")
        return 0
    if not args.name:
        raise ValueError(f"NAME: hcfl account {args.action} needs the new account's name")
    password = keys.read_password(args.password_file, confirm=True)
    if args.action == "new":
        made = keys.new_account(args.name, password)
    else:
        if args.private_key_file is not None:
            try:
                secret = args.private_key_file.read_text().strip()
            except OSError as e:
                raise ValueError(f"--private-key-file: cannot read {args.private_key_file}: {e.strerror}") from None
        else:
            import getpass

            secret = getpass.getpass("private key (hex): ")
        made = keys.import_account(args.name, secret, password)
    console.print(f"{made.name}: {made.address}, encrypted in {made.path}")
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    out_dir: Path = args.out
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"--rounds: must be at least 1, got {args.rounds}")
    t0 = time.perf_counter()
    if args.figure == "fig3":
        from hcfl_cli.experiments.fig3 import Fig3Config, run_fig3, write_fig3

        cfg = Fig3Config(rounds=args.rounds or (20 if args.quick else 100), seed=args.seed)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig3: auctions", total=cfg.rounds * len(cfg.series_keys()))
            result = run_fig3(cfg, progress=lambda: bar.advance(task))
        paths = write_fig3(result, out_dir)
        for key in cfg.series_keys():
            console.print(f"  {key[0]:>6} dishonesty {key[1]:.0%} ({key[2]} lie): accumulated utility "
                          f"{result.accumulated(key)[-1] / 1e9:,.1f} Gwei after {cfg.rounds} rounds")
    elif args.figure == "fig4":
        from hcfl_cli.experiments.fig4 import Fig4Config, run_fig4, write_fig4

        cfg4 = Fig4Config(global_rounds=args.rounds or (2 if args.quick else 10), seed=args.seed,
                          local_epochs=1 if args.quick else 2, device=args.device,
                          **({"dataset": "cifar10", "data_dir": str(args.data_dir)} if args.data_dir else {}))
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig4: training both targets", total=2 * cfg4.global_rounds)
            r4 = run_fig4(cfg4, progress=lambda: bar.advance(task))
        paths = write_fig4(r4, out_dir)
        console.print(f"  common target {list(r4.core)}: VCG chose {list(r4.vcg_target)} -> "
                      f"{r4.vcg_accuracy[-1]:.1%}; random {list(r4.random_target)} -> {r4.random_accuracy[-1]:.1%}")
    else:
        from hcfl_cli.experiments.fig5 import STRATEGIES, Fig5Config, run_fig5, write_fig5

        cfg5 = Fig5Config(rounds=args.rounds or (3 if args.quick else 10), seed=args.seed,
                          global_rounds=1 if args.quick else 3, device=args.device,
                          **({"dataset": "cifar10", "data_dir": str(args.data_dir)} if args.data_dir else {}))
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("fig5: rounds x strategies", total=cfg5.rounds * len(STRATEGIES))
            r5 = run_fig5(cfg5, progress=lambda: bar.advance(task))
        paths = write_fig5(r5, out_dir)
        for s5 in STRATEGIES:
            console.print(f"  {s5:>8}: accumulated social utility {r5.accumulated(s5)[-1] / 1e9:,.1f} Gwei "
                          f"after {cfg5.rounds} rounds")
    console.print(f"{args.figure}: wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcfl",
        description="Truthful crowdfunding for hierarchical federated learning: run a round on a chain, "
        "audit it, reproduce the paper's experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="settle a sample scenario with the reference mechanism only (no chain)",
                          description="Settle a scenario with mechanism.settle and print the outcome.")
    demo.add_argument("--scenario", type=Path, help="JSON/TOML scenario file (default: a seeded sample)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the sample scenario (default 0)")
    demo.add_argument("--rule", choices=["clarke", "paper"], default="clarke", help="tax rule (default clarke)")
    demo.set_defaults(func=_cmd_demo)

    rnd = sub.add_parser("round", help="one full crowdfunding round on a chain, with training (the main job)",
                         description="Play one whole HCFL round: deposits, proposals, sealed claims, Clarke taxes, "
                         "hierarchical FL training of the winner, the punishment vote and the payouts, then audit it "
                         "against the reference mechanism and reconcile every wei.")
    rnd.add_argument("--scenario", type=Path, help="JSON/TOML scenario (default: a seeded sample, 10 owners, 10 stations)")
    rnd.add_argument("--seed", type=int, default=0, help="seed of the sample scenario (default 0)")
    rnd.add_argument("--rpc", help="JSON-RPC URL of a running node (default: titanoboa's embedded EVM)")
    rnd.add_argument("--node", choices=["anvil", "geth"], help="start this node on loopback for the round, stop it after")
    rnd.add_argument("--data-dir", type=Path, help="train on CIFAR-10 from this folder (default: scikit-learn's digits)")
    rnd.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training device (default auto)")
    rnd.add_argument("--train-rounds", type=int, help="global training rounds (default: the winning proposal's)")
    rnd.add_argument("--out", type=Path, help="write round.json, result.json and the accuracy plot here")
    rnd.set_defaults(func=_cmd_round)

    aud = sub.add_parser("audit", help="rebuild every round from a deployment's event logs and re-check it",
                         description="Rebuild every round of a deployed HCFL contract from its event logs alone, "
                         "recompute it with mechanism.settle and report any difference (exit 1 if any).")
    aud.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    aud.add_argument("--address", required=True, help="address of the HCFL contract")
    aud.set_defaults(func=_cmd_audit)

    acc = sub.add_parser("account", help="make, import or list this participant's keys (encrypted keystores)",
                         description="Keys as Web3 Secret Storage keystores (the format of eth-account, geth and "
                         "Foundry's cast wallet) in $HCFL_HOME/keystores (default ~/.hcfl/keystores); Foundry's "
                         "~/.foundry/keystores are listed and usable too. Other commands choose one with "
                         "--account NAME. The password comes from --password-file, $HCFL_PASSWORD or a prompt.")
    acc.add_argument("action", choices=["new", "import", "list"], help="new: a fresh key; import: an existing "
                     "private key; list: every account found")
    acc.add_argument("name", nargs="?", help="the account's name (new, import)")
    acc.add_argument("--password-file", type=Path, help="read the password from this file's first line")
    acc.add_argument("--private-key-file", type=Path, help="import: read the hex private key from this file "
                     "(default: a prompt)")
    acc.set_defaults(func=_cmd_account)

    exp = sub.add_parser("experiment", help="reproduce the paper's figures 3-5 (CSV + PNG)",
                         description="Reproduce one of the paper's section V experiments; writes FIG.csv and FIG.png.")
    exp.add_argument("figure", choices=["fig3", "fig4", "fig5"], help="which figure")
    exp.add_argument("--out", type=Path, default=Path("out/experiments"), help="output folder (default out/experiments)")
    exp.add_argument("--rounds", type=int, help="auction/training rounds (default: the paper's, or small with --quick)")
    exp.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    exp.add_argument("--quick", action="store_true", help="a reduced size that runs in seconds")
    exp.add_argument("--data-dir", type=Path, help="fig4/fig5: train on CIFAR-10 from this folder (default: digits)")
    exp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="fig4/fig5: training device")
    exp.set_defaults(func=_cmd_experiment)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from contracts.chain import Reverted

    try:
        return int(args.func(args))
    except ValueError as e:
        # Bad input: one line naming the option or field, no traceback.
        print(f"hcfl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Reverted as e:
        # The contract refused a transaction: its reason, in one line.
        print(f"hcfl {args.command}: the contract refused {e.fn}: {e.reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hcfl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
