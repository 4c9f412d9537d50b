"""``hcfl localnet``: a whole round among independent agents on this machine (the main job),
each its own OS process; this command shows their lines and the phase, then the outcome."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from hcfl_cli.commands.common import console, say


def add_parser(sub: Any) -> None:
    p = sub.add_parser("localnet", help="a whole round among independent agents on this machine (the main job)",
                       description="Start anvil, deploy, make a keystore, a ticket, a data folder and a config for "
                       "every participant, launch every agent as its own OS process, show the round, and print "
                       "the outcome, every participant's utility, the owners' own measurements and votes, the "
                       "audit and the reconciliation; then stop everything it started.")
    p.add_argument("--owners", type=int, default=4, help="model owners (default 4)")
    p.add_argument("--stations", type=int, default=4, help="base stations (default 4)")
    p.add_argument("--proposals", type=int, default=2, help="owners that propose (default 2)")
    p.add_argument("--data-dir", type=Path, help="split this data folder among the participants: any format python "
                   "-m hfl reads (ImageFolder, CIFAR-10/100, MNIST, Fashion-MNIST, SVHN, .npz; default: digits)")
    p.add_argument("--dataset", help="the data folder's format when its layout is ambiguous")
    p.add_argument("--model", help="the proposals' model: any that `hcfl models` lists (default resnet18 on "
                   "CIFAR-10, else cnn)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenario and the data split (default 0)")
    p.add_argument("--phases", help="seconds of Register,Propose,Commit,Reveal,Train,Vote "
                   "(default 15,6,10,8,T,15, T at least 300 and long enough for every global round's station "
                   "timeout, 60 + 25 s per station)")
    p.add_argument("--global-rounds", type=int, default=2, help="global training rounds of every proposal (default 2)")
    p.add_argument("--promised-bps", type=int, default=7000, help="promised accuracy, basis points (default 7000)")
    p.add_argument("--bonus-bps", type=int, default=0, help="station bonus fraction in basis points (SPEC section 9): "
                   "this share of the winner's budget is paid to the stations by their measured contributions "
                   "(default 0: all by registered weight)")
    p.add_argument("--rpc", help="use this running node instead of starting anvil (funded from anvil's first key)")
    p.add_argument("--out", type=Path, help="keep every participant's folder here (default: a temporary folder)")
    p.add_argument("--web", action="store_true", help="serve the round's live page (hcfl web) and print its URL; "
                   "it stays up after the round until Ctrl-C")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contracts.parameters import check_bonus_bps, parse_phase_seconds
    from hcfl_cli.localnet import DeployOptions, Localnet, LocalnetOptions
    from hcfl_cli.report import gwei, localnet_tables

    phases = parse_phase_seconds(args.phases, "--phases") if args.phases else None
    if args.global_rounds < 1:
        raise ValueError(f"--global-rounds: at least 1, got {args.global_rounds}")
    check_bonus_bps(args.bonus_bps, "--bonus-bps")
    opts = LocalnetOptions(owners=args.owners, stations=args.stations, proposals=args.proposals,
                           data_dir=args.data_dir, dataset=args.dataset, model=args.model, seed=args.seed,
                           phases=phases, global_rounds=args.global_rounds,
                           promised_bps=args.promised_bps, rpc=args.rpc, out=args.out,
                           deploy=DeployOptions(extra={"bonus_bps": args.bonus_bps} if args.bonus_bps else {}))
    import signal

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the with-block below stops every agent and node

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.perf_counter()
    with Localnet(opts, say=lambda m: console.log(m)) as net:
        console.rule(f"HCFL localnet: {opts.owners} owners, {opts.stations} stations, each its own process")
        net.prepare()
        set_up = time.perf_counter() - t0
        net.launch()
        net.deploy_and_admit()
        if args.web:  # the round's page, served from this process
            from hcfl_cli.commands.web import hold, start_for

            page = start_for(net.rpc, net.deployment)
            console.print(f"the round's live page: {page.url}")
        with console.status("starting the agents") as status:
            done = net.wait(timeout=net.round_budget_s(), show=lambda line: say(f"{time.perf_counter() - t0:6.1f} s {line}"),
                            tick=lambda: status.update(net.phase_line()))
        if not done:
            console.print(f"[red]the round did not end within {net.round_budget_s():.0f} s[/]; agents still running: "
                          f"{', '.join(net.running())}")
        failed = net.failed()
        out = net.outcome()
        wide = console if console.is_terminal else Console(log_path=False, width=150)
        for table in localnet_tables(out):
            wide.print(table)
        if out.reported:
            rep = out.reported
            console.print(f"training report: accuracy {rep['accuracy_bps'] / 100:.2f}%, contributions "
                          f"{list(rep['contributions'])}, model {rep['model_uri']}; bond "
                          + ("[red]SLASHED[/] to the pool" if out.slashed else "returned"))
        for line in out.audit_lines:
            console.print(f"audit from the logs: {line}")
        console.print(f"reconciliation: every withdrawal equals the reference to the wei: "
                      f"{'[green]yes[/]' if out.reconciled else '[red]NO[/]'}; pool {gwei(out.pool)} Gwei = surplus"
                      f"{' + slashed bond' if out.slashed else ''} {gwei(out.expected_pool)} Gwei; contract balance "
                      f"{gwei(out.contract_balance)} Gwei = pool + unclaimed {gwei(out.expected_balance)} Gwei")
        console.print(f"peak memory of all agents together (their processes' proportional set sizes added up, "
                      f"the most at any sample): {out.peak_rss_kb / 1024:.0f} MiB")
        console.print(f"set-up {set_up:.1f} s, round {time.perf_counter() - t0 - set_up:.1f} s, "
                      f"total {time.perf_counter() - t0:.1f} s; files in {net.folder}")
        if failed:
            console.print(f"[red]agents that failed[/]: {failed}")
        if args.web:
            console.print(f"the page stays up at {page.url} until Ctrl-C")
            hold()
    return 0 if out.ok and done and not failed else 1
