"""`python -m hfl.flower`: the hierarchical training on Flower's simulation or deployment engine.

    python -m hfl.flower --engine flower-sim --n-stations 2 --global-rounds 2 --out runs/sim
    python -m hfl.flower --engine flower-deploy --out runs/deploy
    python -m hfl.flower commands --n-stations 3 --superlink owner.example.org:9093

The training options are `hfl.config.TrainConfig`'s fields (`--n-stations` for `n_stations`, ...),
generated from the dataclass so that they never drift from it; `--config FILE.json` reads a
`config` object such as the one stored in every `result.json`. `commands` prints the command
each machine of a real deployment runs (docs/flower.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from hfl.config import ConfigError, TrainConfig

ENGINES = ("flower-sim", "flower-deploy")  # hfl.flower.engine.ENGINES, without importing flwr for --help


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _option_type(annotation: Any) -> tuple[Any, str]:
    """argparse `type` and metavar of a TrainConfig field's annotation (`int | None` -> int)."""
    hints = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    base = next((h for h in hints if h is not type(None)), str)
    if typing.get_origin(base) is tuple:
        return _parse_ints, "I,J,..."
    return {bool: (_parse_bool, "BOOL"), int: (int, "INT"), float: (float, "X"), str: (str, "TEXT")}.get(
        base, (str, "TEXT"))


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One `--field-name` option per `TrainConfig` field; unset options keep the config's value."""
    group = parser.add_argument_group("training job (hfl.config.TrainConfig; defaults as there)")
    group.add_argument("--config", type=Path, metavar="FILE.json",
                       help="start from a TrainConfig in JSON (e.g. the 'config' of a result.json)")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        kind, metavar = _option_type(hints[f.name])
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f"cfg_{f.name}", type=kind, metavar=metavar,
                           default=None, help=f"default: {f.default!r}")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    base: dict[str, Any] = {}
    if args.config is not None:
        try:
            data = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError("config", f"cannot read {args.config}: {exc}") from None
        base = data.get("config", data) if isinstance(data, dict) else {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f"cfg_{f.name}")
        if value is not None:
            base[f.name] = value
    return TrainConfig.from_dict(base)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hfl.flower",
        description="Train the winning proposal's model by hierarchical FedAvg on Flower: base stations are "
                    "Flower nodes, the owner runs the ServerApp. Writes OUT/result.json like `python -m hfl`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("train", "commands"), default="train",
                        help="train: run the job; commands: print the per-machine commands of a real deployment")
    parser.add_argument("--engine", choices=ENGINES, default="flower-sim",
                        help="flower-sim: Flower's simulation engine in this process tree (Ray); flower-deploy: a "
                             "SuperLink and one SuperNode per station as processes on 127.0.0.1")
    parser.add_argument("--out", type=Path, default=None, help="folder for result.json, accuracy.png and logs")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before the whole run is stopped")
    parser.add_argument("--round-timeout", type=float, default=600.0,
                        help="seconds the ServerApp waits for the stations' replies in one global round")
    parser.add_argument("--superlink", default=None, metavar="HOST:PORT",
                        help="flower-deploy: submit to this running SuperLink instead of starting one on "
                             "127.0.0.1 (run it on the SuperLink's machine); commands: the address stations dial")
    parser.add_argument("--root-certificates", default=None, metavar="CA.pem",
                        help="with --superlink: the CA certificate that signed the SuperLink's (TLS on); "
                             "without it the connection is insecure")
    parser.add_argument("--verbose", action="store_true", help="show Flower's own log")
    add_config_options(parser)
    return parser


def _print_result(result: Any, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"hierarchical FedAvg on Flower ({result.device})")
    table.add_column("station", justify="right")
    table.add_column("samples", justify="right")
    table.add_column("contribution", justify="right")
    for j, (n, c) in enumerate(zip(result.station_samples, result.contributions)):
        table.add_row(str(j), str(n), str(c))
    console = Console()
    console.print(table)
    console.print(f"accuracy per round: {', '.join(f'{a:.4f}' for a in result.accuracy)}; "
                  f"wall {result.wall_s:.1f} s" + (f"; wrote {out / 'result.json'}" if out else ""))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.action == "commands":
            from hfl.flower.deploy import deployment_commands

            print(deployment_commands(cfg, args.superlink or "SUPERLINK_HOST:9093"))
            return 0
        from hfl.flower.engine import run_flower

        result = run_flower(cfg, args.engine, args.out, timeout_s=args.timeout, round_timeout_s=args.round_timeout,
                            verbose=args.verbose, superlink=args.superlink, root_certificates=args.root_certificates)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: --{exc.field.replace('_', '-')}: {exc.message}\n")
    except KeyboardInterrupt:
        print("interrupted: every Flower process was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # FlowerRunError, StationFailure: say what failed, in one paragraph
        print(f"{parser.prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _print_result(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
