"""Models by name: a small CNN, every classification model of torchvision's registry, and plugins.

- `cnn`: `SmallCNN`, three 3x3 convolutions and a linear head, for CPU runs; no buffers, so a
  station's clients can be trained together with `torch.func.vmap` over stacked parameters.
- Any name `torchvision.models.list_models(module=torchvision.models)` lists (the classification
  models), built by `torchvision.models.get_model(name, weights=None, num_classes=...)`: nothing is
  downloaded, every model starts from its own initialisation. Its input is adapted to the data:
  - the ResNet family (resnet*, resnext*, wide_resnet*) on small images (both sides < 128 px) gets
    the CIFAR stem of He et al.: the ImageNet stem (7x7 stride-2 conv + max-pool, which would
    shrink a 32x32 image to 8x8 before the first block) becomes a 3x3 stride-1 conv and no max-pool,
    as the paper's ResNet-50 on CIFAR-10;
  - every other model whose least input size (its weights' `min_size`) exceeds the data's is fed
    the images resized (bilinear) to that least size; a model built for one size only (the ViTs)
    is fed that size;
  - grey (or other non-RGB) images: the first convolution takes the data's channels.
  `input_plan` says which, for the description document.
- A plugin's entry point (`hfl.plugins`), when the job names the distribution and version that
  provide it and this participant installed them: it is called with the data's channels, classes
  and image size and adapts its input itself.

Parameter counts (`parameter_count`) build the model on the meta device: no memory, no init cost.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from hfl.inputs import CNN, InputPlan, cifar_stem, simple_plan
from hfl.plugins import GROUP, ModelUnavailable, find, load

# googlenet and inception_v3 default to auxiliary heads (a tuple output in training) and warn about
# their init; both are turned off so every model maps images to logits.
_EXTRA_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True},
                 "inception_v3": {"aux_logits": False, "init_weights": True}}


class SmallCNN(nn.Module):
    """Three 3x3 conv layers and a linear head; works for any input size >= 2x2.

    Width 16 learns digits as well as 32 did (96-97% after 3 centralized epochs) at half the CPU time.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),  # [B, w, H, W]
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # [B, 2w, H/2, W/2]
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            # A 4x4 map keeps where strokes are (global pooling would discard it and learn slower).
            nn.AdaptiveAvgPool2d(4),  # [B, 2w, 4, 4]
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * 16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, H, W] float -> [B, num_classes]
        return self.head(self.features(x))


class Resized(nn.Module):
    """A model fed its images resized (bilinear) to `size`: the least input size it takes."""

    def __init__(self, net: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.net = net
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, classes]
        return self.net(F.interpolate(x, size=self.size, mode="bilinear", align_corners=False))


# The registry ---------------------------------------------------------------------------------


@functools.cache
def torchvision_names() -> tuple[str, ...]:
    """The classification models of torchvision's registry (detection, video, ... excluded)."""
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def builtin_names() -> tuple[str, ...]:
    """Every model this installation builds without a plugin: the small CNN, then torchvision's."""
    return (CNN, *torchvision_names())


def check_builtin(name: str) -> None:
    """`ModelUnavailable` unless `name` is the small CNN or a torchvision classification model."""
    if name == CNN or name in torchvision_names():
        return
    raise ModelUnavailable(f"unknown model {name!r}: not cnn, not a torchvision classification model (see "
                           f"`hcfl models`), and no model_plugin names a {GROUP} plugin providing it")


def resolve_plugin(name: str, plugin: str | None = None) -> str | None:
    """The `model_plugin` of a model named on a command line: None for a built-in model, else the
    `distribution==version` of the installed entry point `name` (checked against `plugin` if given)."""
    if plugin is None and (name == CNN or name in torchvision_names()):
        return None
    return find(name, plugin).requirement


@functools.cache
def min_input_size(name: str) -> tuple[int, int]:
    """The least image size a torchvision model takes: the least `min_size` its weights document
    (vit_h_14's default weights are for 518x518, its other ones and its builder for 224x224)."""
    from torchvision.models import get_model_weights

    sizes = [tuple(w.meta.get("min_size", (1, 1))) for w in get_model_weights(name)]
    return min(sizes, key=lambda s: (s[0] * s[1], s)) if sizes else (1, 1)  # type: ignore[return-value]


@functools.lru_cache(maxsize=256)
def input_plan(name: str, shape: tuple[int, int, int], plugin: str | None = None) -> InputPlan:
    """How model `name` is fed images of `shape` (C, H, W) (see the module doc)."""
    if plugin is None and name != CNN:
        check_builtin(name)
    plan = simple_plan(name, shape, plugin)
    if plan is not None:
        return plan
    c, h, w = shape
    lo = min_input_size(name)
    size = (max(h, lo[0]), max(w, lo[1]))
    # The least size is documented to work, and any size when it is 1x1 (convolutions and adaptive
    # pooling only); a larger one is tried on the meta device, since a model made for one size
    # (the ViTs, MaxViT) takes no other: it is then fed its least size.
    if lo != (1, 1) and size != lo and not _takes(name, c, size):
        size = lo
    return InputPlan(c, h, w, size, "none" if size == (h, w) else "resize")


def _takes(name: str, channels: int, size: tuple[int, int]) -> bool:
    """Whether the model runs on [2, channels, *size] images (tried on the meta device: no compute)."""
    model = _meta_model(name, channels, 10, None)
    try:
        model.eval()(torch.empty(2, channels, *size, device="meta"))
    except (RuntimeError, AssertionError, ValueError, IndexError):
        return False
    return True


# Building -------------------------------------------------------------------------------------


def _first_rgb_conv(model: nn.Module) -> tuple[nn.Module, str, nn.Conv2d] | None:
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                return (parent, child_name, child) if child.in_channels == 3 else None
    return None


def _torchvision_model(name: str, in_channels: int, num_classes: int, image_size: tuple[int, int] | None) -> nn.Module:
    from torchvision.models import ResNet, get_model

    model = get_model(name, weights=None, num_classes=num_classes, **_EXTRA_KWARGS.get(name, {}))
    if isinstance(model, ResNet) and cifar_stem(image_size):
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        found = _first_rgb_conv(model)
        if found is None:
            raise ModelUnavailable(f"model {name!r}: no first convolution to adapt to {in_channels} channels")
        parent, attr, conv = found
        setattr(parent, attr, nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                         conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode))
    return model


def build_model(name: str, in_channels: int, num_classes: int, image_size: tuple[int, int] | None = None, *,
                plugin: str | None = None) -> nn.Module:
    """A freshly initialised model (uses torch's global RNG: seed it, or use `hfl.train.init_state`).

    `image_size` (H, W) is the data's; None means small images (the CIFAR stem for the ResNets, no
    resizing). `plugin` is the job's `model_plugin` (`distribution==version`).
    """
    if plugin is not None:
        builder = load(find(name, plugin))
        size = tuple(image_size) if image_size is not None else (32, 32)
        try:
            model = builder(in_channels=in_channels, num_classes=num_classes, image_size=size)
        except Exception as exc:  # the plugin's own failure: this participant cannot build the model
            raise ModelUnavailable(f"the plugin {plugin} failed to build {name!r} ({type(exc).__name__}: {exc})") \
                from exc
        if not isinstance(model, nn.Module):
            raise ModelUnavailable(f"the plugin {plugin}'s entry point {name!r} returned "
                                   f"{type(model).__name__}, not a torch.nn.Module")
        return model
    if name == CNN:
        return SmallCNN(in_channels, num_classes)
    check_builtin(name)
    model = _torchvision_model(name, in_channels, num_classes, image_size)
    if image_size is None:
        return model
    plan = input_plan(name, (in_channels, *image_size))
    return Resized(model, plan.model_size) if plan.adaptation == "resize" else model


class _ParamsOnMeta(TorchFunctionMode):
    """While a model is built: tensor allocations without an explicit device go to the meta device,
    and in-place initialisation of meta tensors is skipped (it would only cost time). Other
    constructors (arange, tensor: what some builders compute layer widths with, then read back)
    stay on the CPU: `torch.device("meta")` moves those too, and RegNet's builder then fails."""

    ALLOCATORS = frozenset({torch.empty, torch.empty_strided, torch.zeros, torch.ones, torch.full, torch.rand,
                            torch.randn})
    # The in-place operations of torch.nn.init and the models' own initialisation.
    FILLS = frozenset({"normal_", "uniform_", "zero_", "fill_", "constant_", "erfinv_", "mul_", "add_", "clamp_",
                       "copy_", "bernoulli_", "exponential_", "geometric_", "log_normal_", "cauchy_", "random_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in self.ALLOCATORS and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        elif func.__name__ in self.FILLS and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]  # a meta tensor holds nothing to fill
        return func(*args, **kwargs)


def _meta_model(name: str, in_channels: int, num_classes: int, image_size: tuple[int, int] | None, *,
                plugin: str | None = None) -> nn.Module:
    """The model with every tensor on the meta device: its structure without its memory."""
    with _ParamsOnMeta():
        model = build_model(name, in_channels, num_classes, image_size, plugin=plugin)
    return model.to("meta")  # the few buffers computed on the CPU too


def parameter_count(name: str, shape: tuple[int, int, int], num_classes: int, *, plugin: str | None = None) -> int:
    """The number of trainable parameters of model `name` for images of `shape` (C, H, W)."""
    c, h, w = shape
    model = _meta_model(name, c, num_classes, (h, w), plugin=plugin)
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def has_buffers(model: nn.Module) -> bool:
    """Batch-norm statistics and the like: such models are trained client by client, not by vmap."""
    return any(True for _ in model.buffers())


# The catalogue: what this installation can build --------------------------------------------------


@dataclass(frozen=True)
class ModelRow:
    """One buildable model for a data shape and class count (what `hcfl models` prints)."""

    name: str
    source: str  # "hfl", "torchvision" or "plugin DIST==VERSION"
    params: int | None  # None when it cannot be built for this data
    model_size: tuple[int, int] | None
    adaptation: str
    buffers: bool | None  # batch norm: trained client by client
    error: str = ""


def _row(name: str, source: str, shape: tuple[int, int, int], classes: int, plugin: str | None) -> ModelRow:
    try:
        plan = input_plan(name, shape, plugin)
        model = _meta_model(name, shape[0], classes, shape[1:], plugin=plugin)
    except ModelUnavailable as exc:
        return ModelRow(name, source, None, None, "", None, exc.message)
    params = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return ModelRow(name, source, params, plan.model_size, plan.adaptation, has_buffers(model))


def _cache_file(cache_dir: Path, shape: tuple[int, int, int], classes: int) -> Path:
    import torchvision

    versions = f"torch{torch.__version__}-torchvision{torchvision.__version__}".replace("+", "_")
    return cache_dir / f"models-{versions}-{'x'.join(map(str, shape))}-{classes}.json"


def catalogue(shape: tuple[int, int, int], classes: int, *, names: Sequence[str] | None = None,
              cache_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> list[ModelRow]:
    """Every model this installation builds (the small CNN, torchvision's classification models, the
    installed plugins), or those of `names`, for images of `shape` (C, H, W) and `classes` classes:
    parameter count, input size, batch norm.

    Counted on the meta device (no memory, no initialisation). The built-in models' rows depend only
    on the torch and torchvision versions, the shape and the class count: with `cache_dir` they are
    kept in a JSON file there and read back on later calls (plugins are always built afresh).
    """
    from hfl.plugins import installed

    plugins = {p.name: p for p in installed()}
    wanted = list(names) if names else [*builtin_names(), *(n for n in plugins if n not in builtin_names())]
    cache: dict[str, list] = {}
    path = _cache_file(cache_dir, shape, classes) if cache_dir is not None else None
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError):
            cache = dict(json.loads(path.read_text()))
    rows, fresh = [], False
    for name in wanted:
        if name in builtin_names():
            source = "hfl" if name == CNN else "torchvision"
            if name in cache:
                params, size, adaptation, buffers = cache[name]
                rows.append(ModelRow(name, source, params, tuple(size), adaptation, buffers))
                continue
            if progress is not None:
                progress(name)
            row = _row(name, source, shape, classes, None)
            if row.params is not None:
                cache[name] = [row.params, list(row.model_size or ()), row.adaptation, row.buffers]
                fresh = True
        elif name in plugins:
            if progress is not None:
                progress(name)
            row = _row(name, f"plugin {plugins[name].requirement}", shape, classes, plugins[name].requirement)
        else:
            row = ModelRow(name, "", None, None, "", None, "no such model here (not cnn, torchvision's or a plugin's)")
        rows.append(row)
    if path is not None and fresh:
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower next time
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".partial")
            tmp.write_text(json.dumps(cache, sort_keys=True))
            tmp.replace(path)
    return rows


__all__ = ["CNN", "InputPlan", "ModelRow", "ModelUnavailable", "Resized", "SmallCNN", "build_model", "builtin_names",
           "catalogue", "check_builtin", "has_buffers", "input_plan", "min_input_size", "parameter_count",
           "resolve_plugin", "torchvision_names"]
