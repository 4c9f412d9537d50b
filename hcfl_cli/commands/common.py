"""What several ``hcfl`` commands share: the console and its plain lines, the key and chain
options, a participant's session, and how a step's result is printed (Flower's CLI keeps its
shared option parsing in one helper the same way)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(log_path=False)

STEP_HELP = ("Each step reads this participant's state on chain first and prints 'already done' instead of "
             "sending what is done; the node's chain id and the deployed code are checked against the "
             "deployment file before anything is sent. A transaction is sent with EIP-1559 fees (legacy "
             "where the chain has none), a gas limit over the node's estimate, the pending nonce, and is "
             "resent at the same nonce with a quarter more fee when not mined within $HCFL_RESEND_AFTER "
             "seconds (default 30), never above --max-fee per gas (default: twice the first send's). It is "
             "kept in $HCFL_HOME/outbox until mined: a command killed before it saw its transaction mined, "
             "run again, waits for that one first and sends nothing twice.")
VALUE_OPTIONS = ("--claims", "--contributions")
"""Options whose value may start with a '-' (a list of amounts such as ``-5,3``): argparse would
take such a value for an option of its own, so ``main`` joins it to its option first."""


def say(text: str) -> None:
    """One plain line: no markup, no colouring, no wrapping (a log or grep reads it whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def gwei(wei: int | None) -> str:
    return "?" if wei is None else f"{wei / 1e9:.4g} Gwei"


def wei(text: str) -> int:
    """An exact amount in wei (a whole number; no floats near money)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of wei, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {text!r}")
    return value


def join_values(argv: Sequence[str]) -> list[str]:
    """``--claims -5,3`` as ``--claims=-5,3``, so that the value reaches its option (and its
    check, which names it) instead of argparse's usage error."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if items[i] in VALUE_OPTIONS and i + 1 < len(items) and items[i + 1].startswith("-") \
                and not items[i + 1].startswith("--"):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def add_key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("key (exactly one)")
    g.add_argument("--account", help="the name of a keystore in $HCFL_HOME/keystores (hcfl account list)")
    g.add_argument("--keystore", type=Path, help="a keystore file (Web3 Secret Storage v3)")
    g.add_argument("--private-key", help="a hex private key (development chains only; it shows in ps)")
    g.add_argument("--password-file", type=Path, help="the keystore's password on this file's first line "
                   "(default: $HCFL_PASSWORD, else a prompt)")


def add_chain_options(p: argparse.ArgumentParser, *, deployment: bool = True) -> None:
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    if deployment:
        p.add_argument("--deployment", required=True, type=Path,
                       help="the deployment file hcfl deploy wrote; its chain id and code hash are checked first")
    p.add_argument("--dry-run", action="store_true", help="show what would be sent and what it costs; send nothing")
    p.add_argument("--max-fee", type=wei, help="the most any transaction (and each resend of it) offers per gas, "
                   "wei (default: twice what its first send offers)")
    add_key_options(p)


def key_options(args: argparse.Namespace) -> Any:
    from contracts.keys import KeyOptions

    return KeyOptions(account=args.account, keystore=args.keystore, private_key=args.private_key,
                      password_file=args.password_file)


def open_session(args: argparse.Namespace, catch_up: bool | None = None) -> Any:
    """The participant's session; what an earlier run left in flight is waited for first
    (unless ``catch_up`` is False) and said, one line each."""
    from contracts.pipeline import env_resend_after
    from hcfl_cli.participant import Session

    s = Session(args.rpc, args.deployment, key_options(args), dry_run=args.dry_run,
                resend_after=env_resend_after(), catch_up=catch_up, max_fee=args.max_fee)
    for note in s.recovered:
        say(note)
    return s


def print_planned(p: Any) -> None:
    args = ", ".join(f"{k}={v}" for k, v in p.args.items())
    if p.gas_limit is None:
        say(f"  would send {p.fn}({args}) value {p.value} wei: {p.note}")
        return
    how = f" ({p.note})" if p.note else ""
    say(f"  would send {p.fn}({args}) value {p.value} wei: gas estimate {p.gas_estimate}{how}, "
        f"limit {p.gas_limit}, fee up to {gwei(p.max_fee_per_gas)}/gas, at most {p.max_cost} wei in fees")


def print_step(r: Any) -> int:
    """A step's result (``contracts.pipeline.StepResult``), one line per thing done; exit 0."""
    for note in r.notes:
        say(note)
    for a in r.already:
        say(f"already done: {a}")
    if r.planned:
        say("dry run, nothing sent:")
        for p in r.planned:
            print_planned(p)
    for t in r.sent:
        say(f"{t.fn}: mined, gas {t.gas}, transaction {t.hash}" + (f": {t.note}" if t.note else ""))
    if not (r.already or r.planned or r.sent):
        say("nothing to send")
    return 0


def add_step(sub: Any, name: str, help_: str, description: str, run: Any) -> argparse.ArgumentParser:
    """The parser of one participant step: its chain and key options, ``STEP_HELP`` and ``run``."""
    p = sub.add_parser(name, help=help_, description=f"{description} {STEP_HELP}")
    add_chain_options(p)
    p.set_defaults(func=run)
    return p


def add_claims_step(sub: Any, name: str, help_: str, description: str, run: Any) -> argparse.ArgumentParser:
    """A step that takes claims (``commit``, ``reveal``): ``--claims`` or ``--claims-file``."""
    p = add_step(sub, name, help_, description, run)
    p.add_argument("--claims", help="comma-separated claims, one per proposal in proposal-index order (the order "
                   "hcfl status lists them), wei")
    p.add_argument("--claims-file", type=Path, help="the claims in a file (JSON list or comma-separated)")
    return p


def run_claims_step(args: argparse.Namespace, step: Any) -> int:
    """Read the claims (before the node is touched: a bad one sends nothing), then run ``step``."""
    from hcfl_cli.inputs import read_claims

    claims = read_claims(args.claims, args.claims_file)
    return print_step(step(open_session(args), claims))
