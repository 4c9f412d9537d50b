"""A proposal's model and data as its description document states them, and whether a participant
can take part in it (SPEC section 8, "Models and data").

- The proposer describes the job from its own data folder (`describe_job`): the data's name,
  class names and image shape, how the model is fed the images (`hfl.inputs.InputPlan`: its input
  size and channels), its parameter count, and for a plugin model the `hcfl.models` entry point
  with the distribution and version that provide it (`JobSpec.plugin_fields`).
- Every other participant checks the job before valuing it (`cannot_take_part`): the model must
  be buildable here (a torchvision name, the small CNN, or a plugin this participant installed
  itself, in that version) and its own data folder must fit (the proposal's image shape, and at
  least one of the target classes, matched by name). A proposal it cannot take part in is one it
  cannot train (a station) or judge (an owner): it says why in one line.

Checking imports no torch for the small CNN and for plugins (the entry points are found in the
installed metadata; no plugin code is imported to check it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfl.catalog import KNOWN, TORCHVISION_CLASSIFIERS
from hfl.config import MODELS, ConfigError, TrainConfig, data_fields
from hfl.folders import SPLITS, DataError, describe_folder
from hfl.inputs import simple_plan
from hfl.plugins import GROUP, Plugin, find

MAX_LABELS = 256  # the contract's target label set is a uint256 bitmask


@dataclass(frozen=True)
class JobSpec:
    """A proposal's model and data, as its description document states them."""

    model: str
    plugin: Plugin | None
    dataset: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    input: dict[str, object]  # hfl.inputs.InputPlan.to_dict()
    param_count: int

    def plugin_fields(self) -> dict[str, str]:
        """The description's `plugin`: the entry point and the distribution and version providing it."""
        if self.plugin is None:
            return {}
        return {"group": GROUP, "entry_point": self.plugin.name, "distribution": self.plugin.distribution,
                "version": self.plugin.version}

    def config_fields(self) -> dict[str, Any]:
        """The `TrainConfig` fields of the model and data."""
        return {"model": self.model, "model_plugin": self.plugin.requirement if self.plugin else None,
                **data_fields(self.dataset, self.classes, self.shape)}


def describe_job(model: str, folder: Path | None, *, dataset: str | None = None,
                 param_count: int | None = None) -> JobSpec:
    """The job of proposing `model` on the data that `folder` holds (its classes and image shape);
    without a folder, the known set `dataset` (digits by default). `dataset` names the data the
    proposer means; a folder holding other data is a `ConfigError` naming `dataset`.

    Imports no torch for the small CNN and the paper's ResNets when `param_count` is given (a
    proposer that states it proposes within its phase even on a slow machine).
    """
    if folder is not None:
        info = describe_folder(folder, hint=dataset)
        if dataset and dataset != info.dataset:
            raise ConfigError("dataset", f"the proposal names {dataset} but data folder {folder} holds {info.dataset}")
        name, classes, shape = info.dataset, info.classes, info.shape
    else:
        name = dataset or "digits"
        if name not in KNOWN:
            raise ConfigError("dataset", f"{name!r} is described by a data folder: give one")
        classes, shape = KNOWN[name].classes, KNOWN[name].shape
    requirement, plugin = None, None
    if model not in MODELS and model not in TORCHVISION_CLASSIFIERS:  # built in: no plugin to look for
        from hfl.models import resolve_plugin

        requirement = resolve_plugin(model)  # ModelUnavailable for a name nothing here provides
        plugin = find(model, requirement) if requirement else None
    plan = simple_plan(model, shape, requirement)
    if plan is None:
        from hfl.models import input_plan

        plan = input_plan(model, shape)
    if not param_count:
        from hfl.models import parameter_count

        param_count = parameter_count(model, shape, len(classes), plugin=requirement)
    return JobSpec(model, plugin, name, classes, shape, plan.to_dict(), int(param_count))


def plugin_requirement(fields: Mapping[str, str]) -> str | None:
    """A description's `plugin` fields -> the config's `model_plugin` (`distribution==version`)."""
    if not fields:
        return None
    if fields.get("group", GROUP) != GROUP:
        raise ConfigError("model_plugin", f"the plugin's entry point is of group {fields.get('group')!r}, not {GROUP}")
    dist, version = str(fields.get("distribution", "")), str(fields.get("version", ""))
    if not dist or not version:
        raise ConfigError("model_plugin", "the plugin names no distribution and version")
    return f"{dist}=={version}"


def cannot_take_part(cfg: TrainConfig, folder: Path | None, split: str) -> str | None:
    """Why this participant cannot train or judge the job `cfg` with its data `folder` (its `split`:
    a station trains on "train", an owner judges on "test"); None when it can (see the module doc)."""
    if split not in SPLITS:
        raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    if cfg.model_plugin is not None:
        try:
            find(cfg.model, cfg.model_plugin)
        except ConfigError as exc:
            return exc.message
    if folder is None:
        return None
    try:
        info = describe_folder(folder, hint=cfg.dataset)
    except DataError as exc:
        return exc.message
    if info.fmt == "imagefolder" and not (Path(folder) / split).is_dir():
        return f"my data folder {folder} has no {split}/ folder"
    if info.shape != cfg.data_shape:
        return (f"my data folder {folder} holds {'x'.join(map(str, info.shape))} images, the proposal's {cfg.dataset} "
                f"are {'x'.join(map(str, cfg.data_shape))} (channels x height x width)")
    targets = {cfg.class_names[label] for label in cfg.labels}
    if not targets & set(info.classes):
        shown = sorted(targets)[:6]
        return f"my data folder {folder} holds none of the target classes ({', '.join(shown)}{', ...' if len(targets) > 6 else ''})"
    return None


__all__ = ["JobSpec", "MAX_LABELS", "cannot_take_part", "describe_job", "plugin_requirement"]
