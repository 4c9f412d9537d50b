"""`python -m hfl`: train one proposal's model by hierarchical FedAvg and write its result.

With no options it trains the small CNN on scikit-learn's digits on the CPU (a few seconds on a
laptop) and writes `out/hfl/result.json` and `out/hfl/accuracy.png`. `--data-dir DIR` trains on a
data folder in any format of `hfl.folders` (ImageFolder, CIFAR-10/100, MNIST, Fashion-MNIST, SVHN,
.npz), detected from its layout; `--model` takes any model `hcfl models` lists. A bad option (or a
bad data folder) ends with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from hfl.catalog import KNOWN
from hfl.config import (CIFAR10_ENV, CONTRIBUTION_METHODS, DEVICES, KAPPA1_UNITS, ConfigError, TrainConfig,
                        data_fields, labels_from_bitmask, resolve_labels)
from hfl.folders import FORMATS

# Config field -> the option that sets it, so that errors name what the user typed.
OPTION_OF = {
    "n_stations": "--stations",
    "global_rounds": "--rounds",
    "target_labels": "--labels/--target-mask",
    "shuffled_label_stations": "--shuffled-stations",
    "classes": "--data-dir",
    "image_shape": "--data-dir",
    "model_plugin": "--model",
}


def option_name(field: str) -> str:
    return OPTION_OF.get(field, "--" + field.replace("_", "-"))


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is reported in one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _labels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated label indices, got {text!r}") from None


def _label_tokens(text: str) -> tuple[str, ...]:
    """Class names or indices, resolved once the data's classes are known."""
    tokens = tuple(t.strip() for t in text.split(",") if t.strip())
    if not tokens:
        raise argparse.ArgumentTypeError(f"expected comma-separated class names or indices, got {text!r}")
    return tokens


def _int_auto_base(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer (decimal or 0x..), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = OneLineParser(
        prog="python -m hfl",
        description="Train a proposal's model by hierarchical federated learning (HierFAVG: clients -> base "
                    "stations -> owner), measure each station's contribution, write result.json and a plot.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("model and data")
    g.add_argument("--model", default=d.model,
                   help="cnn (a small CNN), any torchvision classification model (resnet18, mobilenet_v3_small, "
                        "...) or an installed plugin's hcfl.models entry point: `hcfl models` lists them")
    g.add_argument("--dataset", default=None,
                   help=f"digits (scikit-learn's, the default without --data-dir), or the format of --data-dir when "
                        f"its layout is ambiguous: one of {', '.join(FORMATS)} (default: detected)")
    g.add_argument("--data-dir", default=None,
                   help="the data folder: an ImageFolder (train/<class>/*.png, test/<class>/...), CIFAR-10 or "
                        "CIFAR-100 python format, MNIST or Fashion-MNIST raw files, SVHN .mat files, or a "
                        f"participant's .npz folder; cifar10 also from ${CIFAR10_ENV}. Nothing is downloaded")
    g.add_argument("--labels", type=_label_tokens, default=None,
                   help="target labels by class name or index, e.g. cat,dog or 0,1,7 (default: all)")
    g.add_argument("--target-mask", type=_int_auto_base, default=None,
                   help="target labels as the proposal's bitmask (bit l = label l), e.g. 0x3f")
    g.add_argument("--eval-labels", type=_label_tokens, default=None,
                   help="labels the accuracy is reported on, e.g. the owners' common targets (default: --labels)")
    g.add_argument("--max-train-samples", type=int, default=None, help="cap on training images (after --labels)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop + flip on the device (default: on for cifar10 and cifar100 only)")
    f = p.add_argument_group("federation")
    f.add_argument("--stations", type=int, default=d.n_stations, help="number of base stations")
    f.add_argument("--clients-per-station", type=int, default=d.clients_per_station)
    f.add_argument("--iid", action="store_true", help="IID split instead of Dirichlet label skew")
    f.add_argument("--alpha", type=float, default=d.alpha, help="Dirichlet concentration (> 0; smaller = more skew)")
    f.add_argument("--shuffled-stations", type=_labels, default=(),
                   help="stations whose clients hold label-shuffled data, e.g. 0,2 (to see contributions drop)")
    t = p.add_argument_group("training")
    t.add_argument("--rounds", type=int, default=d.global_rounds, help="global rounds")
    t.add_argument("--kappa1", type=int, default=d.kappa1, help="local epochs (or steps) per edge round")
    t.add_argument("--kappa1-unit", default=d.kappa1_unit, help=f"one of {', '.join(KAPPA1_UNITS)}")
    t.add_argument("--kappa2", type=int, default=d.kappa2, help="edge rounds per global round")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--momentum", type=float, default=d.momentum)
    t.add_argument("--weight-decay", type=float, default=d.weight_decay)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--device", default=d.device, help=f"one of {', '.join(DEVICES)}")
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on for cuda)")
    t.add_argument("--vectorize", action=argparse.BooleanOptionalAction, default=None,
                   help="train a station's clients together with torch.func.vmap (default: on cuda, buffer-free "
                        "models)")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: 1 for the small CNN on the CPU, else half the CPUs)")
    c = p.add_argument_group("contribution and output")
    c.add_argument("--contribution", default=d.contribution, help=f"one of {', '.join(CONTRIBUTION_METHODS)}")
    c.add_argument("--max-evals", type=int, default=d.max_evals, help="bound on evaluations for Shapley sampling")
    c.add_argument("--out", default="out/hfl", help="folder for result.json and accuracy.png")
    c.add_argument("--engine", choices=("local", "flower-sim", "flower-deploy"), default="local",
                   help="local: this process (default); flower-sim: Flower's simulation engine; flower-deploy: "
                        "a SuperLink and one SuperNode per station on loopback (see docs/flower.md and "
                        "`python -m hfl.flower --help` for stations on other machines). Same result.json.")
    c.add_argument("--quiet", action="store_true", help="no progress bar or table")
    return p


def data_options(data_dir: str | None, dataset: str | None) -> dict[str, object]:
    """The config's data fields from `--data-dir` and `--dataset` (see `hfl.config.data_fields`)."""
    if not data_dir:
        name = dataset or "digits"
        if name not in KNOWN:
            raise ConfigError("dataset", f"{name!r} needs --data-dir (only digits ships with the code)")
        return {"dataset": name}
    from hfl.folders import describe_folder

    info = describe_folder(data_dir, fmt="npz" if dataset == "digits" else dataset)  # digits on disk: an .npz folder
    return {**data_fields(info.dataset, info.classes, info.shape), "data_dir": data_dir}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Raises ConfigError naming the field (see `option_name`)."""
    from hfl.models import resolve_plugin

    if args.labels is not None and args.target_mask is not None:
        raise ConfigError("target_labels", "give --labels or --target-mask, not both")
    data = data_options(args.data_dir, args.dataset)
    classes = data.get("classes") or KNOWN[str(data["dataset"])].classes
    target = resolve_labels(args.labels, classes) if args.labels is not None else None
    if args.target_mask is not None:
        target = labels_from_bitmask(args.target_mask, len(classes))
    evals = resolve_labels(args.eval_labels, classes, "eval_labels") if args.eval_labels is not None else None
    return TrainConfig(
        seed=args.seed, model=args.model, model_plugin=resolve_plugin(args.model), n_stations=args.stations,
        clients_per_station=args.clients_per_station, iid=args.iid, alpha=args.alpha, kappa1=args.kappa1,
        kappa1_unit=args.kappa1_unit, kappa2=args.kappa2, global_rounds=args.rounds, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size, target_labels=target,
        eval_labels=evals, max_train_samples=args.max_train_samples, augment=args.augment,
        device=args.device, amp=args.amp,
        vectorize=args.vectorize, contribution=args.contribution, max_evals=args.max_evals,
        shuffled_label_stations=tuple(args.shuffled_stations), **data,  # type: ignore[arg-type]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.threads is not None and args.threads < 1:
            raise ConfigError("threads", f"must be >= 1, got {args.threads}")
        if args.engine != "local":
            return run_on_flower(cfg, engine=args.engine, out=args.out, quiet=args.quiet, threads=args.threads)
        return run(cfg, out=args.out, quiet=args.quiet, threads=args.threads)
    except ConfigError as exc:  # DataError included
        print(f"{parser.prog}: error: {option_name(exc.field)}: {exc.message}", file=sys.stderr)
        return 2


def run_on_flower(cfg: TrainConfig, *, engine: str, out: str, quiet: bool, threads: int | None) -> int:
    """The same job on one of Flower's engines (hfl.flower), writing the same result.json."""
    from rich.console import Console

    from hfl.flower import FlowerRunError, StationFailure, run_flower
    from hfl.result import contribution_table

    console = Console(quiet=quiet)
    try:
        with console.status(f"training on Flower's {engine} engine ({cfg.n_stations} stations as Flower nodes)"):
            result = run_flower(cfg, engine, out, threads=threads)
    except (FlowerRunError, StationFailure) as exc:  # a failed federation: one line, like python -m hfl.flower
        print(f"python -m hfl: error: --engine {engine}: {exc}", file=sys.stderr)
        return 1
    for r, acc in enumerate(result.accuracy, start=1):
        console.print(f"round {r:>3}/{cfg.global_rounds}: accuracy on target labels {100 * acc:.2f}%")
    console.print(contribution_table(result, f" over Flower ({engine})"))
    console.print(f"final accuracy {100 * result.final_accuracy:.2f}%; contributions {list(result.contributions)}; "
                  f"wall {result.wall_s:.1f} s on {engine}; wrote {Path(out) / 'result.json'}")
    return 0


def labels_text(cfg: TrainConfig) -> str:
    """The scored labels as a person reads them: indices and class names, or how many of how many."""
    scored = cfg.scored_labels
    if len(scored) == cfg.num_classes:
        return f"all {cfg.num_classes} classes"
    if len(scored) > 12:
        return f"{len(scored)} of its {cfg.num_classes} classes"
    names = cfg.class_names
    if all(names[label] == str(label) for label in scored):
        return f"labels {list(scored)}"
    return "labels " + ", ".join(f"{label} ({names[label]})" for label in scored)


def run(cfg: TrainConfig, *, out: str, quiet: bool, threads: int | None) -> int:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from hfl.data import build_federation
    from hfl.result import contribution_table, write_result
    from hfl.train import RoundReport, default_threads, resolve_device, train

    t0 = time.perf_counter()
    device = resolve_device(cfg)
    torch.set_num_threads(threads or default_threads(cfg, device))
    fed = build_federation(cfg, device)  # data errors surface here, before any progress bar
    console = Console(quiet=quiet, width=max(100, Console().width))
    with Progress(TextColumn("[bold]global round {task.completed}/{task.total}"), BarColumn(),
                  TextColumn("{task.fields[acc]}"), TimeElapsedColumn(), console=console,
                  disable=quiet) as bar:
        task = bar.add_task("train", total=cfg.global_rounds, acc="")

        def progress(rep: RoundReport) -> None:
            bar.update(task, completed=rep.round_idx + 1, acc=f"accuracy {100 * rep.accuracy:.1f}%")
            bar.console.print(f"round {rep.round_idx + 1:>3}/{rep.global_rounds}: accuracy on target labels "
                              f"{100 * rep.accuracy:.2f}%  ({rep.elapsed_s:.1f} s)")

        result = train(cfg, progress=progress, federation=fed)
    result = dataclasses.replace(result, wall_s=time.perf_counter() - t0)  # data loading included
    path = write_result(result, out)
    console.print(contribution_table(result))
    console.print(f"final accuracy {100 * result.final_accuracy:.2f}% on {labels_text(cfg)}; "
                  f"wall {result.wall_s:.1f} s; {result.images_per_s:,.0f} training images/s; wrote {path} and "
                  f"{path.parent / 'accuracy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
