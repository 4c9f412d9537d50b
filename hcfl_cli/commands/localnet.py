"""``hcfl localnet``: rounds of one deployment among independent agents on this machine (the
main job), each agent its own OS process; this command shows their lines and the phase, then
every round's outcome and a summary across rounds."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from hcfl_cli.commands.common import console, say


def add_parser(sub: Any) -> None:
    p = sub.add_parser("localnet", help="rounds of one deployment among independent agents on this machine "
                       "(the main job)",
                       description="Start anvil, deploy, make a keystore, a ticket, a data folder and a config for "
                       "every participant, launch every agent as its own OS process, show the rounds (a newcomer "
                       "joins, a station leaves, the pool of each round subsidises the next), and print each "
                       "round's outcome, every participant's utility, the owners' own measurements and votes, the "
                       "audit and the reconciliation, then a summary across rounds; then stop everything it started.")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the deployment the agents play (default 2)")
    p.add_argument("--join-at", type=int, help="a newcomer owner joins from this round: admitted while the round "
                   "before runs, its agent registers at the next registration (default 2 with --rounds 2 or more; "
                   "0: nobody joins)")
    p.add_argument("--leave-after", type=int, help="the last station's agent stops after this round and registers no "
                   "more (default 1 with --rounds 2 or more; 0: nobody leaves)")
    p.add_argument("--owners", type=int, default=4, help="model owners from round 1 (default 4)")
    p.add_argument("--stations", type=int, default=4, help="base stations (default 4)")
    p.add_argument("--proposals", type=int, default=2, help="owners that propose, one model a round (default 2)")
    p.add_argument("--data-dir", type=Path, help="split this data folder among the participants: any format python "
                   "-m hfl reads (ImageFolder, CIFAR-10/100, MNIST, Fashion-MNIST, SVHN, .npz; default: digits)")
    p.add_argument("--dataset", help="the data folder's format when its layout is ambiguous")
    p.add_argument("--model", help="the proposals' model: any that `hcfl models` lists (default resnet18 on "
                   "CIFAR-10, else cnn)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenario and the data split (default 0)")
    p.add_argument("--phases", help="seconds of Register,Propose,Commit,Reveal,Train,Vote "
                   "(default 10,5,6,6,T,10, T at least 300 and long enough for every global round's station "
                   "timeout, 60 + 25 s per station)")
    p.add_argument("--global-rounds", type=int, default=2, help="global training rounds of every proposal (default 2)")
    p.add_argument("--promised-bps", type=int, default=7000, help="promised accuracy, basis points (default 7000)")
    p.add_argument("--bonus-bps", type=int, default=0, help="station bonus fraction in basis points (SPEC section 9): "
                   "this share of the winner's budget is paid to the stations by their measured contributions "
                   "(default 0: all by registered weight)")
    p.add_argument("--rpc", help="use this running node instead of starting anvil (funded from anvil's first key)")
    p.add_argument("--out", type=Path, help="keep every participant's folder here (default: a temporary folder)")
    p.add_argument("--web", action="store_true", help="serve the deployment's live page (hcfl web) and print its "
                   "URL; it stays up after the rounds until Ctrl-C")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contracts.parameters import check_bonus_bps, parse_phase_seconds
    from hcfl_cli.localnet import DeployOptions, Localnet, LocalnetOptions
    from hcfl_cli.localnet_report import round_lines, round_tables, summary_tables
    from hcfl_cli.report import gwei

    phases = parse_phase_seconds(args.phases, "--phases") if args.phases else None
    if args.global_rounds < 1:
        raise ValueError(f"--global-rounds: at least 1, got {args.global_rounds}")
    check_bonus_bps(args.bonus_bps, "--bonus-bps")
    several = args.rounds >= 2
    join_at = (2 if several else 0) if args.join_at is None else args.join_at
    leave_after = (1 if several else 0) if args.leave_after is None else args.leave_after
    opts = LocalnetOptions(owners=args.owners, stations=args.stations, proposals=args.proposals,
                           data_dir=args.data_dir, dataset=args.dataset, model=args.model, seed=args.seed,
                           phases=phases, global_rounds=args.global_rounds,
                           promised_bps=args.promised_bps, rpc=args.rpc, out=args.out, rounds=args.rounds,
                           join_at=join_at, leave_after=leave_after,
                           deploy=DeployOptions(extra={"bonus_bps": args.bonus_bps} if args.bonus_bps else {}))
    import signal

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the with-block below stops every agent and node

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.perf_counter()
    with Localnet(opts, say=lambda m: console.log(m)) as net:
        console.rule(f"HCFL localnet: {opts.rounds} round(s), {opts.owners} owners, {opts.stations} stations, "
                     "each its own process")
        net.prepare()
        set_up = time.perf_counter() - t0
        net.launch()
        net.wait_ready()
        net.deploy_and_admit()
        if args.web:  # the deployment's page, served from this process
            from hcfl_cli.commands.web import hold, start_for

            page = start_for(net.rpc, net.deployment)
            console.print(f"the deployment's live page: {page.url}")
        with console.status("starting the agents") as status:
            done = net.wait(timeout=net.round_budget_s(), show=lambda line: say(f"{time.perf_counter() - t0:6.1f} s {line}"),
                            tick=lambda: status.update(net.phase_line()))
        if not done:
            console.print(f"[red]the rounds did not end within {net.round_budget_s():.0f} s[/]; agents still running: "
                          f"{', '.join(net.running())}")
        failed = net.failed()
        run_out = net.run_outcome()
        wide = console if console.is_terminal else Console(log_path=False, width=150)
        for out in run_out.rounds:
            for table in round_tables(out):
                wide.print(table)
            for line in round_lines(out):
                console.print(line)
        for table in summary_tables(run_out):
            wide.print(table)
        rec = run_out.reconciliation
        console.print(f"the pool: every round's subsidy and the pool now ({gwei(rec.pool)} Gwei) are what the rounds "
                      f"put into it: {'[green]yes[/]' if not rec.mismatches and rec.pool == rec.ledger_pool else '[red]NO[/]'}"
                      + "".join(f"; {m}" for m in rec.mismatches))
        console.print(f"contract balance {gwei(rec.contract_balance)} Gwei = pool now + what every round still owes "
                      f"{gwei(rec.expected_balance)} Gwei: "
                      + ("[green]yes[/]" if rec.contract_balance == rec.expected_balance else "[red]NO[/]"))
        console.print(f"peak memory of all agents together (their processes' proportional set sizes added up, "
                      f"the most at any sample): {run_out.peak_rss_kb / 1024:.0f} MiB; per round: "
                      + ", ".join(f"round {r} {kb / 1024:.0f} MiB" for r, kb in sorted(run_out.peak_by_round.items())))
        console.print(f"set-up {set_up:.1f} s, rounds {time.perf_counter() - t0 - set_up:.1f} s, "
                      f"total {time.perf_counter() - t0:.1f} s; files in {net.folder}")
        if failed:
            console.print(f"[red]agents that failed[/]: {failed}")
        if args.web:
            console.print(f"the page stays up at {page.url} until Ctrl-C")
            hold()
    return 0 if run_out.ok and done and not failed and len(run_out.rounds) == opts.rounds else 1

