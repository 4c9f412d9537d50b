"""The ``hcfl`` command: a full crowdfunding round, its audit, the paper's experiments, and
the participant's commands, one per step of a round (``hcfl_cli.participant``).

Each subcommand parses its options, calls a library function, and prints with rich; errors
in the user's input end with one line naming the option (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    if not 0 <= args.bonus_bps <= 10_000:
        raise ValueError(f"--bonus-bps: expected 0..10000 basis points, got {args.bonus_bps}")
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
    from hcfl_cli.audit import attach_chain, audit_events, rebuild, stored_contribution_hashes

    chain = attach_chain(args.rpc, args.address)
    events = chain.chain_events()
    reported = [r.round_id for r in rebuild(events) if r.report is not None]
    audits = audit_events(events, contribution_hashes=stored_contribution_hashes(chain, reported),
                          address=args.address, bonus_bps=int(chain.call("BONUS_BPS", [])))
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
    elif args.figure == "bonus":
        from hcfl_cli.experiments.bonus import BonusConfig, run_bonus, write_bonus

        cfgb = BonusConfig.quick(args.seed) if args.quick else BonusConfig(seed=args.seed)
        if args.device != "auto":
            cfgb = dataclasses.replace(cfgb, device=args.device)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("bonus: trainings (one per data configuration)", total=None)
            rb = run_bonus(cfgb, progress=lambda: bar.advance(task))
        paths = write_bonus(rb, out_dir)
        for row in rb.rows:
            console.print(f"  beta {row.bonus_bps / 100:5.1f} %: clean-data stations {sum(row.good)}/{len(row.good)}, "
                          f"accuracy {row.accuracy:.1%}, station utilities (fixed data) "
                          f"{', '.join(f'{u:,.1f}' for u in row.fixed_utility_gwei)} Gwei; largest lie gain "
                          f"{row.max_lie_gain} wei <= bound {row.proved_bound} wei")
        console.print(f"  {rb.trainings} trainings; fixed data: stations {list(rb.cheap_fixed)} on shuffled labels, "
                      f"contributions {list(rb.fixed_contributions)}")
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


# -- the participant's commands (hcfl_cli.participant) ---------------------------------------
def _key_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from hcfl_cli.participant import KeyOptions

    return KeyOptions(account=args.account, keystore=args.keystore, private_key=args.private_key,
                      password_file=args.password_file)


def _session(args: argparse.Namespace, catch_up: bool | None = None):  # type: ignore[no-untyped-def]
    """The participant's session; what an earlier run left in flight is waited for first
    (unless ``catch_up`` is False) and said, one line each."""
    from hcfl_cli.participant import Session, env_resend_after

    s = Session(args.rpc, args.deployment, _key_options(args), dry_run=args.dry_run,
                resend_after=env_resend_after(), catch_up=catch_up)
    for note in s.recovered:
        _say(note)
    return s


def _say(text: str) -> None:
    """One plain line: no markup, no colouring, no wrapping (a log or grep reads it whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _gwei(wei: int | None) -> str:
    return "?" if wei is None else f"{wei / 1e9:.4g} Gwei"


def _print_step(r) -> int:  # type: ignore[no-untyped-def]
    for note in r.notes:
        _say(note)
    for a in r.already:
        _say(f"already done: {a}")
    if r.planned:
        _say("dry run, nothing sent:")
        for p in r.planned:
            args = ", ".join(f"{k}={v}" for k, v in p.args.items())
            if p.gas_limit is None:
                _say(f"  would send {p.fn}({args}) value {p.value} wei: {p.note}")
                continue
            how = f" ({p.note})" if p.note else ""
            _say(f"  would send {p.fn}({args}) value {p.value} wei: gas estimate {p.gas_estimate}{how}, "
                 f"limit {p.gas_limit}, fee up to {_gwei(p.max_fee_per_gas)}/gas, at most {p.max_cost} wei in fees")
    for t in r.sent:
        _say(f"{t.fn}: mined, gas {t.gas}, transaction {t.hash}" + (f": {t.note}" if t.note else ""))
    if not (r.already or r.planned or r.sent):
        _say("nothing to send")
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    from hcfl_cli.participant import deploy

    try:
        phases = [int(x) for x in args.phases.split(",")]
    except ValueError:
        raise ValueError(f"--phases: expected six whole numbers of seconds, got {args.phases!r}") from None
    r = deploy(args.rpc, _key_options(args), args.out, phase_seconds=phases, no_show_penalty=args.penalty,
               min_bond=args.min_bond, organizer=None if args.open else args.organizer,
               deposit_per_weight=args.deposit_per_weight, max_proposals=args.max_proposals, dry_run=args.dry_run,
               bonus_bps=args.bonus_bps)
    if r.planned is not None:
        p = r.planned
        _say(f"dry run, nothing sent: would deploy with {p.args}: gas estimate {p.gas_estimate}, limit "
             f"{p.gas_limit}, fee up to {_gwei(p.max_fee_per_gas)}/gas")
        return 0
    for note in r.notes:
        _say(note)
    f = r.file
    _say(f"deployed {f.address} on chain {f.chain_id} in block {f.block}; wrote {r.path}")
    return 0


def _cmd_admit(args: argparse.Namespace) -> int:
    from hcfl_cli.participant import admit

    if args.revoke:
        return _cmd_revoke(args)
    for option, given in (("--role", args.role), ("--out", args.out)):
        if given is None:
            raise ValueError(f"{option}: required to sign a ticket")
    r = admit(args.deployment, _key_options(args), args.out, participant=args.address, role=args.role,
              weight=args.weight, max_proposals=args.max_proposals, node_public_key_file=args.node_public_key,
              valid_for=args.valid_for, round_id=args.round, rpc=args.rpc)
    _say(f"admitted {r.participant} as {r.role} of weight {r.weight} until {r.expiry}; wrote {r.path}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    """``hcfl admit --revoke``: the organizer revokes an address's admission on chain."""
    from hcfl_cli.participant import revoke_admission

    if args.rpc is None:
        raise ValueError("--rpc: --revoke sends a transaction: name the node")
    return _print_step(revoke_admission(_session(args), args.address))


def _cmd_status(args: argparse.Namespace) -> int:
    from hcfl_cli.participant import status

    r = status(_session(args, catch_up=False))  # a look, not a step: it waits for nothing
    left = max(0, r.deadline - r.now)
    _say(f"round {r.round_id}: {r.phase}"
         + ("" if r.phase == "Finalized" else f", deadline {r.deadline} ({left} s from now)"))
    for p in r.proposals:
        w = "" if p.welfare is None else f", welfare {p.welfare}"
        star = " (winner)" if r.winner == p.index else ""
        _say(f"  proposal {p.index}{star}: budget {p.budget} wei, bond {p.bond} wei by {p.proposer}{w}"
             + (f", {p.uri}" if p.uri else ""))
    who = f"{r.role}, {', '.join(r.status) or 'registered'}, amount {r.amount} wei" if r.role else "not registered"
    _say(f"you ({r.address}): {who}")
    _say(f"next: {r.next_action}")
    return 0


def _cmd_step(args: argparse.Namespace) -> int:
    from hcfl_cli import participant as pt

    c = args.command
    if c == "register":
        s = _session(args)
        return _print_step(pt.register(s, ticket=args.ticket, deposit=args.deposit, role=args.role,
                                       node_public_key_file=args.node_public_key))
    if c == "propose":
        s = _session(args)
        return _print_step(pt.propose(s, budget=args.budget, bond=args.bond, document=args.document, uri=args.uri,
                                      accuracy_bps=args.accuracy_bps, training_rounds=args.training_rounds,
                                      label_mask=args.label_mask, param_count=args.param_count))
    if c == "commit":
        claims = pt.read_claims(args.claims, args.claims_file)
        return _print_step(pt.commit(_session(args), claims))
    if c == "reveal":
        claims = pt.read_claims(args.claims, args.claims_file)
        return _print_step(pt.reveal(_session(args), claims))
    if c == "settle":
        if args.who and args.all:
            raise ValueError("--who/--all: give one of them, not both")
        return _print_step(pt.settle(_session(args), args.who, args.all))
    if c == "report":
        contributions = pt.parse_amounts(args.contributions, "--contributions")
        return _print_step(pt.report(_session(args), model=args.model, uri=args.uri, accuracy_bps=args.accuracy_bps,
                                     contributions=contributions))
    if c == "vote":
        return _print_step(pt.vote(_session(args), args.punish == "yes"))
    if c == "withdraw":
        if args.bond and args.bonus:
            raise ValueError("--bond/--bonus: give one of them, not both")
        return _print_step(pt.withdraw(_session(args), bond=args.bond, bonus=args.bonus))
    if c == "advance":
        return _print_step(pt.advance(_session(args), args.from_phase))
    if c == "close":
        return _print_step(pt.close(_session(args)))
    return _print_step(pt.finalize(_session(args)))


def _cmd_agent(args: argparse.Namespace) -> int:
    from hcfl_cli.agent import run_agent
    from hcfl_cli.agent_config import read_config

    cfg = read_config(args.config)
    if args.make_node_key:
        import hashlib

        from hcfl_cli.agent import ensure_node_keys

        if cfg.role != "station":
            raise ValueError("--make-node-key: only a station has a Flower node key")
        pub = ensure_node_keys(cfg.flower)
        _say(f"node public key {pub} (sha256 {hashlib.sha256(pub.read_bytes()).hexdigest()}): give it to the "
             "organizer, who puts its hash in your ticket (hcfl admit --node-public-key)")
        return 0
    if args.deployment is None:
        raise ValueError("--deployment: the deployment file is needed to run the agent")
    rpc = args.rpc or cfg.rpc
    if not rpc:
        raise ValueError("--rpc: give the node's URL here or as rpc in the config")
    try:
        return run_agent(cfg, args.deployment, _key_options(args), rpc, expect_bonus_bps=args.bonus_bps)
    except KeyboardInterrupt:
        print(f"[{cfg.name}] stopped", flush=True)
        return 130


def _cmd_localnet(args: argparse.Namespace) -> int:
    from hcfl_cli.localnet import DeployOptions, Localnet, LocalnetOptions
    from hcfl_cli.report import gwei, localnet_tables

    try:
        phases = tuple(int(x) for x in args.phases.split(",")) if args.phases else None
    except ValueError:
        raise ValueError(f"--phases: expected six whole numbers of seconds, got {args.phases!r}") from None
    if args.global_rounds < 1:
        raise ValueError(f"--global-rounds: at least 1, got {args.global_rounds}")
    if not 0 <= args.bonus_bps <= 10_000:
        raise ValueError(f"--bonus-bps: expected 0..10000 basis points, got {args.bonus_bps}")
    opts = LocalnetOptions(owners=args.owners, stations=args.stations, proposals=args.proposals,
                           data_dir=args.data_dir, seed=args.seed, phases=phases, global_rounds=args.global_rounds,
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
        with console.status("starting the agents") as status:
            done = net.wait(timeout=net.round_budget_s(), show=lambda line: _say(f"{time.perf_counter() - t0:6.1f} s {line}"),
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
            console.print(f"training report: accuracy {int(rep['accuracy_bps']) / 100:.2f}%, contributions "
                          f"{[int(c) for c in rep['contributions']]}, model {rep['model_uri']}; bond "
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
    return 0 if out.ok and done and not failed else 1


def _wei(text: str) -> int:
    """An exact amount in wei (a whole number; no floats near money)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of wei, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {text!r}")
    return value


def _add_key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("key (exactly one)")
    g.add_argument("--account", help="the name of a keystore in $HCFL_HOME/keystores (hcfl account list)")
    g.add_argument("--keystore", type=Path, help="a keystore file (Web3 Secret Storage v3)")
    g.add_argument("--private-key", help="a hex private key (development chains only; it shows in ps)")
    g.add_argument("--password-file", type=Path, help="the keystore's password on this file's first line "
                   "(default: $HCFL_PASSWORD, else a prompt)")


def _add_chain_options(p: argparse.ArgumentParser, *, deployment: bool = True) -> None:
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    if deployment:
        p.add_argument("--deployment", required=True, type=Path,
                       help="the deployment file hcfl deploy wrote; its chain id and code hash are checked first")
    p.add_argument("--dry-run", action="store_true", help="show what would be sent and what it costs; send nothing")
    _add_key_options(p)


def _add_participant_commands(sub) -> None:  # type: ignore[no-untyped-def]
    from contracts.constants import DEFAULT_DEPOSIT_PER_WEIGHT, DEFAULT_MAX_PROPOSALS, DEFAULT_PHASE_SECONDS

    step_help = ("Each step reads this participant's state on chain first and prints 'already done' instead of "
                 "sending what is done; the node's chain id and the deployed code are checked against the "
                 "deployment file before anything is sent. A transaction is sent with EIP-1559 fees (legacy "
                 "where the chain has none), a gas limit over the node's estimate, the pending nonce, and is "
                 "resent at the same nonce with higher fees when not mined within $HCFL_RESEND_AFTER seconds "
                 "(default 30). It is kept in $HCFL_HOME/outbox until mined: a command killed before it saw "
                 "its transaction mined, run again, waits for that one first and sends nothing twice.")

    dep = sub.add_parser("deploy", help="deploy the contract and write the deployment file (the organizer)",
                         description="Deploy HCFL from your key and write the deployment file (chain id, "
                         "address, block, transaction, code hash and parameters) that every other command reads.")
    _add_chain_options(dep, deployment=False)
    dep.add_argument("--out", type=Path, required=True, help="the deployment file to write (never overwritten)")
    dep.add_argument("--phases", default=",".join(map(str, DEFAULT_PHASE_SECONDS)),
                     help="seconds of Register,Propose,Commit,Reveal,Train,Vote (default %(default)s)")
    dep.add_argument("--penalty", type=_wei, default=0, help="no-show penalty, wei (default 0)")
    dep.add_argument("--min-bond", type=_wei, default=1, help="least responsibility bond, wei (default 1)")
    dep.add_argument("--organizer", default="self", help="who signs the tickets: an address, or 'self' (default)")
    dep.add_argument("--open", action="store_true", help="an open deployment: no organizer, no tickets")
    dep.add_argument("--deposit-per-weight", type=_wei, default=DEFAULT_DEPOSIT_PER_WEIGHT,
                     help="least owner deposit per unit of weight, wei (default %(default)s)")
    dep.add_argument("--max-proposals", type=int, default=DEFAULT_MAX_PROPOSALS,
                     help="proposals per owner and round in an open deployment (default %(default)s)")
    dep.add_argument("--bonus-bps", type=int, default=0,
                     help="station bonus fraction in basis points, 0..10000: that part of the winner's budget is "
                          "shared by the stations' reported contributions, the rest by weight (SPEC section 9; "
                          "default 0)")
    dep.set_defaults(func=_cmd_deploy)

    adm = sub.add_parser("admit", help="sign an admission ticket for one participant (the organizer, offline)",
                         description="Sign an EIP-712 admission ticket with the organizer's key and write it as "
                         "a JSON file for the participant to register with. Needs no node; with --rpc, the expiry "
                         "is counted from the chain's latest block time, the clock the contract checks.")
    adm.add_argument("--deployment", required=True, type=Path, help="the deployment file")
    adm.add_argument("--address", required=True, help="the participant's address")
    adm.add_argument("--role", choices=["owner", "station"], help="its role (required to sign a ticket)")
    adm.add_argument("--weight", type=int, default=1, help="its weight (default 1)")
    adm.add_argument("--max-proposals", type=int, help="an owner's proposal allowance (default: the deployment's)")
    adm.add_argument("--node-public-key", type=Path, help="a station's Flower node public key file")
    adm.add_argument("--valid-for", type=int, default=30 * 86_400, help="seconds from now (default 30 days)")
    adm.add_argument("--rpc", help="count --valid-for from this node's latest block time (default: this "
                     "machine's clock, offline)")
    adm.add_argument("--round", type=int, default=0, help="admit to this round only (default 0: every round)")
    adm.add_argument("--out", type=Path, help="the ticket file to write (required to sign a ticket)")
    adm.add_argument("--revoke", action="store_true",
                     help="revoke --address's admission on chain instead (needs --rpc): it cannot register from now "
                          "on, in this round or later ones; registered in this round, it keeps its rights there")
    adm.set_defaults(dry_run=False)
    _add_key_options(adm)
    adm.set_defaults(func=_cmd_admit)

    st = sub.add_parser("status", help="the round, its phase and deadline, the proposals, your state and next step",
                        description="Show the current round: phase and deadline, the proposals (welfare once "
                        "closed), this participant's state and the next command to run. Sends nothing.")
    _add_chain_options(st)
    st.set_defaults(func=_cmd_status)

    def step(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=f"{description} {step_help}")
        _add_chain_options(p)
        p.set_defaults(func=_cmd_step)
        return p

    reg = step("register", "register with a ticket and a deposit", "Register in the current round.")
    reg.add_argument("--ticket", type=Path, help="the admission ticket file from the organizer (hcfl admit)")
    reg.add_argument("--deposit", type=_wei, required=True, help="the deposit, wei")
    reg.add_argument("--role", choices=["owner", "station"], help="the role (only an open deployment needs it)")
    reg.add_argument("--node-public-key", type=Path, help="a station's Flower node public key file (published)")

    pro = step("propose", "post a proposal with its bond and description document (an owner)",
               "Post a proposal: its description document's sha256 goes on chain, its URI into the log.")
    pro.add_argument("--budget", type=_wei, required=True, help="the budget C_m, wei")
    pro.add_argument("--bond", type=_wei, required=True, help="the responsibility bond, wei")
    pro.add_argument("--document", type=Path, required=True, help="the proposal's description document")
    pro.add_argument("--uri", default="", help="where the document can be fetched")
    pro.add_argument("--accuracy-bps", type=int, default=0, help="promised accuracy, basis points")
    pro.add_argument("--training-rounds", type=int, default=1, help="global training rounds (default 1)")
    pro.add_argument("--label-mask", type=int, default=2**10 - 1, help="target labels, one bit each")
    pro.add_argument("--param-count", type=int, default=0, help="the model's parameter count")

    for name, what in (("commit", "Seal your claims (one per proposal, wei); the claims and the salt are stored "
                        "encrypted in $HCFL_HOME/secrets before the commit is sent. Re-run before the Commit "
                        "deadline, it checks the stored secret against the chain and re-commits if they differ."),
                       ("reveal", "Open your commitment with the stored secret; --claims re-derives a lost "
                        "secret's salt from the key.")):
        p = step(name, f"{name} your sealed claims", what)
        p.add_argument("--claims", help="comma-separated claims, one per proposal, wei")
        p.add_argument("--claims-file", type=Path, help="the claims in a file (JSON list or comma-separated)")

    se = step("settle", "settle yourself, another participant, or everyone (from the logs)",
              "Settle a participant once the round is closed; anyone can settle anyone from the Revealed logs.")
    se.add_argument("--who", help="the participant to settle (default: you)")
    se.add_argument("--all", action="store_true", help="every registered participant not yet settled")

    rep = step("report", "the winner's training report", "Report the trained model (its sha256 from the file), "
               "its URI, the accuracy and one contribution per station.")
    rep.add_argument("--model", type=Path, required=True, help="the trained model file")
    rep.add_argument("--uri", default="", help="where the model file can be fetched")
    rep.add_argument("--accuracy-bps", type=int, required=True, help="achieved accuracy, basis points")
    rep.add_argument("--contributions", required=True, help="comma-separated, one per station in registration order")

    vo = step("vote", "vote whether the winner missed its promise (an owner, not the winner)",
              "Vote whether to punish the winner (slash its bond).")
    vo.add_argument("--punish", choices=["yes", "no"], required=True, help="yes: the model misses the promise")

    wd = step("withdraw", "withdraw your payout (settling first), or your released bonds",
              "Pull your payout; settles you in the same transaction if you are not settled yet.")
    wd.add_argument("--bond", action="store_true", help="withdraw your proposals' released bonds instead")
    wd.add_argument("--bonus", action="store_true",
                    help="a station: withdraw your contribution bonus instead, crediting it first once the round "
                         "is finalized (a deployment with --bonus-bps)")

    adv = step("advance", "end the current phase once its deadline passed",
               "Move the round to its next phase (Reveal ends by close, Vote by finalize).")
    adv.add_argument("--from", dest="from_phase", help="only from this phase: already done if past it")
    step("close", "end the Reveal phase: choose the winner", "Close the round once the Reveal deadline passed.")
    step("finalize", "end the Vote phase: slash or release the bond", "Finalize once the Vote deadline passed.")


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
    rnd.add_argument("--bonus-bps", type=int, default=0,
                     help="station bonus fraction in basis points, 0..10000: that part of the winner's budget goes to "
                          "the stations by their measured contributions (SPEC section 9; default 0)")
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

    exp = sub.add_parser("experiment", help="reproduce the paper's figures 3-5, or the station bonus's (CSV + PNG)",
                         description="Reproduce one of the paper's section V experiments; writes FIG.csv and FIG.png.")
    exp.add_argument("figure", choices=["fig3", "fig4", "fig5", "bonus"],
                     help="which figure (bonus: SPEC section 9's station bonus: utilities, accuracy and lies vs beta)")
    exp.add_argument("--out", type=Path, default=Path("out/experiments"), help="output folder (default out/experiments)")
    exp.add_argument("--rounds", type=int, help="auction/training rounds (default: the paper's, or small with --quick)")
    exp.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    exp.add_argument("--quick", action="store_true", help="a reduced size that runs in seconds")
    exp.add_argument("--data-dir", type=Path, help="fig4/fig5: train on CIFAR-10 from this folder (default: digits)")
    exp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="fig4/fig5: training device")
    exp.set_defaults(func=_cmd_experiment)

    _add_participant_commands(sub)

    ag = sub.add_parser("agent", help="run one participant's agent: it acts at every phase of its round",
                        description="One long-running process per participant: it watches its round (phase and "
                        "events, polling with back-off) and acts at every phase with the participant commands: "
                        "register, propose (an owner with a [proposal]), commit its valuation, reveal, settle and "
                        "withdraw; as the winner it trains the proposal on Flower with the registered stations, "
                        "publishes the model and reports; as a station it serves its own data as an authenticated "
                        "SuperNode; as an owner it judges the model on its own held-out set and votes. It keeps "
                        "the round moving (advance, close, finalize after a deadline). Killed and restarted with "
                        "the same command, it carries on from the chain and its secret store. The config format "
                        "is in hcfl_cli/agent_config.py and docs/participants.md.")
    ag.add_argument("--deployment", type=Path, help="the deployment file (hcfl deploy); the agent waits for it "
                    "to appear")
    ag.add_argument("--config", required=True, type=Path, help="this participant's TOML config")
    ag.add_argument("--rpc", help="JSON-RPC URL of the node (default: rpc in the config)")
    ag.add_argument("--bonus-bps", type=int, help="take part only if the deployment's station bonus (SPEC section 9, "
                    "fixed by hcfl deploy --bonus-bps) is this many basis points; default: whatever it is (printed "
                    "when the agent attaches); a station credits and withdraws its bonus after finalize either way")
    ag.add_argument("--make-node-key", action="store_true", help="a station: make its Flower node key pair in "
                    "its flower folder (once) and print the public key's file, for the organizer's ticket; then exit")
    _add_key_options(ag)
    ag.set_defaults(func=_cmd_agent)

    ln = sub.add_parser("localnet", help="a whole round among independent agents on this machine (the main job)",
                        description="Start anvil, deploy, make a keystore, a ticket, a data folder and a config for "
                        "every participant, launch every agent as its own OS process, show the round, and print "
                        "the outcome, every participant's utility, the owners' own measurements and votes, the "
                        "audit and the reconciliation; then stop everything it started.")
    ln.add_argument("--owners", type=int, default=4, help="model owners (default 4)")
    ln.add_argument("--stations", type=int, default=4, help="base stations (default 4)")
    ln.add_argument("--proposals", type=int, default=2, help="owners that propose (default 2)")
    ln.add_argument("--data-dir", type=Path, help="train on CIFAR-10 from this folder (default: scikit-learn's digits)")
    ln.add_argument("--seed", type=int, default=0, help="seed of the scenario and the data split (default 0)")
    ln.add_argument("--phases", help="seconds of Register,Propose,Commit,Reveal,Train,Vote "
                    "(default 15,6,10,8,T,15, T at least 300 and long enough for every global round's station "
                    "timeout, 60 + 25 s per station)")
    ln.add_argument("--global-rounds", type=int, default=2, help="global training rounds of every proposal (default 2)")
    ln.add_argument("--promised-bps", type=int, default=7000, help="promised accuracy, basis points (default 7000)")
    ln.add_argument("--bonus-bps", type=int, default=0, help="station bonus fraction in basis points (SPEC section 9): "
                    "this share of the winner's budget is paid to the stations by their measured contributions "
                    "(default 0: all by registered weight)")
    ln.add_argument("--rpc", help="use this running node instead of starting anvil (funded from anvil's first key)")
    ln.add_argument("--out", type=Path, help="keep every participant's folder here (default: a temporary folder)")
    ln.set_defaults(func=_cmd_localnet)
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
    except TimeoutError as e:
        # A transaction the node did not mine in time: it may still be mined; re-running
        # the command reads the chain first and does not send it twice.
        print(f"hcfl {args.command}: {e} (run the command again once the node is up)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hcfl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
