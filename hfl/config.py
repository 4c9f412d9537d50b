"""The trainer's configuration: one plain frozen dataclass, saved next to every result.

Every run of `hfl` (in-process, from the `hcfl round` command or on Flower) is fully described by
a `TrainConfig`; `train(cfg)` is a function of it alone, so a result can be reproduced from the
`config` object stored in its `result.json`.

Bad values raise `ConfigError` (a `ValueError`) whose `field` names the offending field, so that
the command line can name the matching option in one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from hfl.catalog import KNOWN, TORCHVISION_CLASSIFIERS

# The models named in the paper; any classification model of torchvision's registry and any
# installed `hcfl.models` plugin can be trained too (hfl.models, hfl.plugins).
MODELS = ("cnn", "resnet18", "resnet50")
# Image sets known by name (hfl.catalog); any other data is named by its folder's format and
# carries its classes and image shape in the config.
DATASETS = tuple(KNOWN)
KAPPA1_UNITS = ("epochs", "steps")
CONTRIBUTION_METHODS = ("loo", "shapley")
DEVICES = ("auto", "cpu", "cuda")
# The environment variable naming the local CIFAR-10 folder when no `data_dir` is given.
CIFAR10_ENV = "HCFL_CIFAR10_DIR"
NUM_LABELS = {name: len(s.classes) for name, s in KNOWN.items()}


class ConfigError(ValueError):
    """A bad configuration value; `field` is the `TrainConfig` field (or option) at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TrainConfig:
    """One hierarchical FL training job (HierFAVG: clients -> base stations -> cloud/owner).

    Defaults train the small CNN on scikit-learn's digits on the CPU in a few seconds.
    """

    seed: int = 0
    model: str = "cnn"  # "cnn", a torchvision classification model's name, or a plugin's entry point
    dataset: str = "digits"  # a known set (DATASETS), or any name when `classes` and `image_shape` are given
    data_dir: str | None = None  # the data folder (any format of hfl.folders); cifar10: else $HCFL_CIFAR10_DIR
    n_stations: int = 4  # base stations (edge aggregators)
    clients_per_station: int = 5
    iid: bool = False  # IID split; otherwise Dirichlet(alpha) label skew over clients
    alpha: float = 0.5  # Dirichlet concentration (smaller = more skew); ignored when iid
    kappa1: int = 2  # local epochs (or steps, see kappa1_unit) per edge round
    kappa1_unit: str = "epochs"  # one of KAPPA1_UNITS
    kappa2: int = 2  # edge rounds per global round
    global_rounds: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    # Labels the proposal targets (indices into the dataset's labels); None means all labels.
    # Training data and evaluation are restricted to them. See `labels_from_bitmask`.
    target_labels: tuple[int, ...] | None = None
    # Labels the per-round accuracy is measured on (default: the target labels). The paper's
    # Fig. 4 trains on a proposal's targets and scores the owners' common targets.
    eval_labels: tuple[int, ...] | None = None
    max_train_samples: int | None = None  # cap on training images after the target filter
    augment: bool | None = None  # random crop + flip on the device; None = on for cifar10 only
    device: str = "auto"  # one of DEVICES; auto = cuda when available, else cpu
    amp: bool | None = None  # bfloat16 autocast; None = on for cuda only
    vectorize: bool | None = None  # vmap over a station's clients; None = for models without buffers
    contribution: str = "shapley"  # one of CONTRIBUTION_METHODS (leave-one-out is always reported)
    max_evals: int = 128  # bound on model evaluations for Shapley sampling (beyond leave-one-out's n + 1)
    shuffled_label_stations: tuple[int, ...] = ()  # stations whose clients' labels are shuffled (tests, experiments)
    eval_batch_size: int = 1024
    # The data's class names (label l is classes[l]) and image shape (channels, height, width), as
    # read from the data; None: those of the known set `dataset`. Participants map their own
    # folders' classes onto these by name.
    classes: tuple[str, ...] | None = None
    image_shape: tuple[int, int, int] | None = None
    # "distribution==version" of the installed plugin whose `hcfl.models` entry point `model` is
    # (hfl.plugins); None: a built-in model.
    model_plugin: str | None = None

    def __post_init__(self) -> None:
        # Accept lists (from JSON or callers) but store tuples, so the config stays hashable.
        if self.classes is not None and not isinstance(self.classes, tuple):
            object.__setattr__(self, "classes", tuple(self.classes))
        if self.image_shape is not None and not isinstance(self.image_shape, tuple):
            object.__setattr__(self, "image_shape", tuple(self.image_shape))
        if self.target_labels is not None and not isinstance(self.target_labels, tuple):
            object.__setattr__(self, "target_labels", tuple(int(t) for t in self.target_labels))
        if self.eval_labels is not None and not isinstance(self.eval_labels, tuple):
            object.__setattr__(self, "eval_labels", tuple(int(t) for t in self.eval_labels))
        if not isinstance(self.shuffled_label_stations, tuple):
            object.__setattr__(self, "shuffled_label_stations", tuple(int(s) for s in self.shuffled_label_stations))
        self.validate()

    def validate(self) -> None:
        """Raise `ConfigError` naming the first bad field."""
        self._validate_model()
        self._validate_data()
        for name in ("n_stations", "clients_per_station", "kappa1", "kappa2", "global_rounds", "batch_size",
                     "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
        if not self.iid and not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ConfigError("alpha", f"the Dirichlet concentration must be a finite number > 0, got {self.alpha!r}")
        if self.kappa1_unit not in KAPPA1_UNITS:
            raise ConfigError("kappa1_unit", f"must be one of {', '.join(KAPPA1_UNITS)}, got {self.kappa1_unit!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("lr", f"must be > 0, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError("momentum", f"must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")
        n_labels = self.num_classes
        for name in ("target_labels", "eval_labels"):
            labels = getattr(self, name)
            if labels is None:
                continue
            if len(labels) == 0:
                raise ConfigError(name, "must hold at least one label")
            bad = [t for t in labels if not 0 <= t < n_labels]
            if bad:
                raise ConfigError(name, f"labels {bad} are outside 0..{n_labels - 1} of {self.dataset}")
            if len(set(labels)) != len(labels):
                raise ConfigError(name, f"repeated label in {list(labels)}")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ConfigError("max_train_samples", f"must be >= 1, got {self.max_train_samples!r}")
        if self.device not in DEVICES:
            raise ConfigError("device", f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.contribution not in CONTRIBUTION_METHODS:
            raise ConfigError("contribution", f"must be one of {', '.join(CONTRIBUTION_METHODS)}")
        if self.max_evals < 1:
            raise ConfigError("max_evals", f"must be >= 1, got {self.max_evals!r}")
        bad = [s for s in self.shuffled_label_stations if not 0 <= s < self.n_stations]
        if bad:
            raise ConfigError("shuffled_label_stations", f"stations {bad} are outside 0..{self.n_stations - 1}")

    def _validate_model(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("model", f"expected a model name, got {self.model!r}")
        if self.model_plugin is not None:
            from hfl.plugins import parse_requirement

            parse_requirement(self.model_plugin)  # built only where that plugin is installed
        elif self.model not in MODELS and self.model not in TORCHVISION_CLASSIFIERS:
            from hfl.models import check_builtin  # imports torchvision: only for a name it may have since

            check_builtin(self.model)

    def _validate_data(self) -> None:
        if (self.classes is None or self.image_shape is None) and self.dataset not in KNOWN:
            raise ConfigError("dataset", f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}, "
                                         f"or read the data from a folder (its classes and image shape)")
        if self.classes is not None:
            if len(self.classes) < 2 or not all(isinstance(c, str) and c for c in self.classes):
                raise ConfigError("classes", f"expected at least two class names, got {list(self.classes)[:5]}")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError("classes", "repeated class name")
        if self.image_shape is not None:
            if len(self.image_shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                     for v in self.image_shape):
                raise ConfigError("image_shape", f"expected (channels, height, width) >= 1, got "
                                                 f"{list(self.image_shape)}")

    # Derived values -------------------------------------------------------------------------

    @property
    def class_names(self) -> tuple[str, ...]:
        """The data's class names: `classes`, else the known set's."""
        return self.classes if self.classes is not None else KNOWN[self.dataset].classes

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def data_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the data: `image_shape`, else the known set's."""
        return self.image_shape if self.image_shape is not None else KNOWN[self.dataset].shape

    @property
    def labels(self) -> tuple[int, ...]:
        """The target labels, sorted (all of the dataset's labels when none are given)."""
        if self.target_labels is None:
            return tuple(range(self.num_classes))
        return tuple(sorted(self.target_labels))

    @property
    def scored_labels(self) -> tuple[int, ...]:
        """The labels accuracy is reported on: `eval_labels`, else the target labels."""
        return tuple(sorted(self.eval_labels)) if self.eval_labels is not None else self.labels

    @property
    def n_clients(self) -> int:
        return self.n_stations * self.clients_per_station

    def resolved_data_dir(self) -> str | None:
        """The data folder: `data_dir`, else (CIFAR-10 only) the `HCFL_CIFAR10_DIR` environment variable."""
        if self.data_dir:
            return self.data_dir
        return (os.environ.get(CIFAR10_ENV) or None) if self.dataset == "cifar10" else None

    @classmethod
    def for_proposal(cls, label_mask: int, n_stations: int, **overrides: Any) -> TrainConfig:
        """The job of a winning proposal: its target-label bitmask (SPEC section 1), one base
        station per registered station of the round; other fields as given, else the defaults."""
        dataset = overrides.get("dataset", cls.dataset)
        classes = overrides.get("classes")
        n_labels = len(classes) if classes is not None else NUM_LABELS.get(dataset, 10)
        return cls(target_labels=labels_from_bitmask(label_mask, n_labels), n_stations=n_stations, **overrides)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], "unknown configuration field")
        return cls(**data)


def labels_from_bitmask(mask: int, n_labels: int = 10) -> tuple[int, ...]:
    """Target labels of a proposal's bitmask (SPEC section 1): bit `l` set means label `l` is targeted."""
    if not isinstance(mask, int) or mask <= 0:
        raise ConfigError("target_labels", f"the label bitmask must be a positive integer, got {mask!r}")
    if mask >> n_labels:
        raise ConfigError("target_labels", f"bitmask {mask:#x} has bits beyond the dataset's {n_labels} labels")
    return tuple(l for l in range(n_labels) if mask >> l & 1)


def bitmask_from_labels(labels: tuple[int, ...] | list[int]) -> int:
    """Inverse of `labels_from_bitmask`."""
    return sum(1 << int(l) for l in set(labels))




def resolve_labels(values: Any, classes: tuple[str, ...], field: str = "target_labels") -> tuple[int, ...]:
    """Labels given by class name or index (`["cat", 3]`, or the text `"cat,3"`) -> indices into `classes`.

    A token that is a class name is that class (names win over numbers, so a class named "3" is
    found by its name); otherwise it must be an index in 0..len(classes)-1.
    """
    tokens = [t.strip() for t in values.split(",") if t.strip()] if isinstance(values, str) else list(values)
    index = {name: i for i, name in enumerate(classes)}
    out = []
    for t in tokens:
        if isinstance(t, str) and t in index:
            out.append(index[t])
            continue
        try:
            i = int(t)
        except (TypeError, ValueError):
            raise ConfigError(field, f"{t!r} is not one of the classes ({', '.join(classes[:12])}"
                                     f"{', ...' if len(classes) > 12 else ''}) nor an index") from None
        if isinstance(t, bool) or not 0 <= i < len(classes):
            raise ConfigError(field, f"label {t!r} is outside 0..{len(classes) - 1}")
        out.append(i)
    return tuple(out)


def data_fields(dataset: str, classes: tuple[str, ...] | list[str], shape: tuple[int, ...] | list[int]
                ) -> dict[str, Any]:
    """A config's data fields for data named `dataset` with these classes and image shape: the name
    alone when they are the known set's (so such configs read as before), else all three."""
    known = KNOWN.get(dataset)
    classes, shape = tuple(str(c) for c in classes), tuple(int(v) for v in shape)
    if known is not None and known.classes == classes and known.shape == shape:
        return {"dataset": dataset}
    return {"dataset": dataset, "classes": classes, "image_shape": shape}


__all__ = [
    "CIFAR10_ENV",
    "ConfigError",
    "TrainConfig",
    "bitmask_from_labels",
    "data_fields",
    "labels_from_bitmask",
    "resolve_labels",
]
