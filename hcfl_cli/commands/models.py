"""``hcfl models``: the models this installation can build for a proposal, with their parameter counts.

The small CNN, every classification model of torchvision's registry and every ``hcfl.models``
entry point of a plugin installed here (``hfl.plugins``), for images of a given shape and class
count (or a data folder's): parameters, the input size the model is fed (its least input size
when the images are smaller, the CIFAR stem of the ResNets on small images) and whether it has
batch norm (then a station trains its clients one by one). Counted on the meta device, so no
model takes memory; the built-in rows are kept in a cache file (per torch and torchvision
version, shape and class count), so only the first call for a shape builds them all.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

GROUP_HELP = "an installed plugin's hcfl.models entry point (see hfl/README.md, 'Adding a model')"


def cache_dir() -> Path:
    """Where the built-in models' rows are kept: $XDG_CACHE_HOME/hcfl (default ~/.cache/hcfl)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hcfl"


def _shape(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CxHxW, e.g. 3x32x32, got {text!r}") from None
    if min(c, h, w) < 1:
        raise argparse.ArgumentTypeError(f"every dimension must be >= 1, got {text!r}")
    return c, h, w


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "models", help="list the models a proposal can name here, with their parameter counts",
        description="List the models this installation can build for a proposal: cnn (a small CNN), every "
        "classification model of torchvision's registry, and every hcfl.models entry point of a plugin installed "
        "here, with their parameter counts for images of --shape and --classes classes (or those of --data-dir), "
        "the input size each is fed, and whether it has batch norm. Counted on the meta device; the built-in rows "
        f"are cached in {cache_dir()}.")
    p.add_argument("names", nargs="*", help="only these models (default: all)")
    p.add_argument("--shape", type=_shape, default=(3, 32, 32), help="channels x height x width of the images "
                   "(default 3x32x32, CIFAR-10's)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    p.add_argument("--data-dir", type=Path, help="take the shape and classes from this data folder (any format "
                   "python -m hfl reads)")
    p.add_argument("--dataset", help="the data folder's format, when its layout is ambiguous")
    p.add_argument("--no-cache", action="store_true", help="count every model afresh (and keep no cache)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from hfl.models import catalogue

    console = Console() if Console().is_terminal else Console(width=120)
    shape, classes = tuple(args.shape), int(args.classes)
    where = ""
    if args.data_dir is not None:
        from hfl.folders import describe_folder

        info = describe_folder(args.data_dir, fmt=args.dataset)
        shape, classes = info.shape, len(info.classes)
        where = f" ({info.dataset} in {args.data_dir})"
    if classes < 2:
        raise ValueError(f"--classes: at least 2, got {classes}")
    t0 = time.perf_counter()
    with console.status("counting parameters on the meta device") as status:
        rows = catalogue(shape, classes, names=args.names or None, cache_dir=None if args.no_cache else cache_dir(),
                         progress=lambda name: status.update(f"counting parameters on the meta device: {name}"))
    table = Table(title=f"models for {'x'.join(map(str, shape))} images, {classes} classes{where}")
    for col, justify in (("model", "left"), ("from", "left"), ("parameters", "right"), ("fed", "left"),
                         ("batch norm", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        if r.params is None:
            table.add_row(r.name, r.source, "-", r.error, "")
            continue
        assert r.model_size is not None
        fed = f"{r.model_size[0]}x{r.model_size[1]}"
        fed += {"resize": " (resized)", "cifar-stem": " (CIFAR stem)", "plugin": " (its own)"}.get(r.adaptation, "")
        table.add_row(r.name, r.source, f"{r.params:,}", fed, "yes" if r.buffers else "no")
    console.print(table)
    plugins = sum(1 for r in rows if r.source.startswith("plugin"))
    console.print(f"{sum(1 for r in rows if r.params is not None)} models can be built here ({plugins} from plugins; "
                  f"a plugin model is {GROUP_HELP}); listed in {time.perf_counter() - t0:.1f} s")
    return 0 if all(r.params is not None for r in rows) else 2


__all__ = ["add_parser", "cache_dir", "run"]
