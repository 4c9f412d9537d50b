"""`python -m hfl.flower`: the hierarchical training on Flower's simulation or deployment engine.

    python -m hfl.flower --engine flower-sim --stations 2 --rounds 2 --out runs/sim
    python -m hfl.flower --engine flower-deploy --out runs/deploy
    python -m hfl.flower commands --stations 3 --superlink owner.example.org:9093

The training options are those of `python -m hfl` (its parser and `config_from_args` are reused,
so both commands build the same `TrainConfig` from the same options); this command adds the
engine, its time limits and the SuperLink to use. `commands` prints the command each machine of
a real deployment runs (docs/flower.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hfl.__main__ import build_parser as build_hfl_parser
from hfl.__main__ import config_from_args, option_name
from hfl.config import ConfigError

ENGINES = ("flower-sim", "flower-deploy")  # as hfl.flower.engine.ENGINES, without importing flwr for --help


def build_parser() -> argparse.ArgumentParser:
    parser = build_hfl_parser()
    parser.prog = "python -m hfl.flower"
    parser.description = ("Train a proposal's model by hierarchical FedAvg on Flower: each base station is a Flower "
                          "node (its ClientApp runs the station's edge rounds), the owner runs the ServerApp. Writes "
                          "OUT/result.json like `python -m hfl`.")
    parser.set_defaults(out="out/hfl-flower")
    parser.add_argument("action", nargs="?", choices=("train", "commands"), default="train",
                        help="train: run the job; commands: print the per-machine commands of a real deployment")
    g = parser.add_argument_group("Flower")
    if "--engine" in parser._option_string_actions:  # `python -m hfl` has it too (with `local`)
        parser.set_defaults(engine="flower-sim")
    else:
        g.add_argument("--engine", choices=ENGINES, default="flower-sim",
                       help="flower-sim: Flower's simulation engine in this process tree (Ray actors); "
                            "flower-deploy: Flower's deployment engine, a SuperLink and one SuperNode per station as "
                            "processes on 127.0.0.1 (or the running SuperLink given by --superlink)")
    g.add_argument("--timeout", type=float, default=1800.0, help="seconds before the whole run is stopped")
    g.add_argument("--round-timeout", type=float, default=600.0,
                   help="seconds the ServerApp waits for every station's reply in one global round")
    g.add_argument("--superlink", default=None, metavar="HOST:PORT",
                   help="flower-deploy: submit to this running SuperLink instead of starting one (run it on the "
                        "SuperLink's machine); commands: the address the stations dial")
    g.add_argument("--root-certificates", default=None, metavar="CA.crt",
                   help="with --superlink: the CA certificate of the SuperLink's TLS certificate (without it the "
                        "connection is insecure: loopback only)")
    g.add_argument("--verbose", action="store_true", help="show Flower's own log")
    return parser


def _print_result(result: Any, out: str, quiet: bool) -> None:
    from rich.console import Console

    from hfl.result import contribution_table

    console = Console(quiet=quiet)
    console.print(contribution_table(result, " over Flower"))
    console.print(f"accuracy per global round: {', '.join(f'{100 * a:.2f}%' for a in result.accuracy)}; "
                  f"wall {result.wall_s:.1f} s; wrote {Path(out) / 'result.json'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.action == "commands":
            from hfl.flower.deploy import deployment_commands

            print(deployment_commands(cfg, args.superlink or "SUPERLINK_HOST:9093"))
            return 0
        if args.timeout <= 0 or args.round_timeout <= 0:
            raise ConfigError("timeout", "--timeout and --round-timeout must be > 0 seconds")
        from hfl.flower.engine import run_flower

        result = run_flower(cfg, args.engine, args.out, timeout_s=args.timeout, round_timeout_s=args.round_timeout,
                            verbose=args.verbose, superlink=args.superlink, root_certificates=args.root_certificates,
                            threads=args.threads)
    except ConfigError as exc:  # DataError included
        print(f"{parser.prog}: error: {option_name(exc.field)}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; every Flower process was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # FlowerRunError, StationFailure: what failed and where its log is
        print(f"{parser.prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _print_result(result, args.out, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
