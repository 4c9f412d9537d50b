"""Models from plugins a participant installed itself: the `hcfl.models` entry-point group.

A plugin is an ordinary Python distribution that declares, in its `pyproject.toml`::

    [project.entry-points."hcfl.models"]
    tinynet = "my_models:build_tinynet"

where `build_tinynet(*, in_channels: int, num_classes: int, image_size: tuple[int, int]) -> torch.nn.Module`
returns a freshly initialised classifier of `[B, in_channels, H, W]` float images (the entry point adapts
to the size itself). A job names such a model by its entry point and by the distribution and version
that provide it (`"hcfl-tinynet==0.1.0"`): a participant builds it only when that very distribution
is installed in its own environment. Nothing else is ever imported: no code travels with a proposal
or a model file (those hold JSON and tensors only), so a station never runs a stranger's code.

Discovery (`installed`, `find`) reads installed metadata only and imports nothing; `load` imports the
entry point's module, which the participant installed itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from hfl.config import ConfigError

GROUP = "hcfl.models"


class ModelUnavailable(ConfigError):
    """The job's model cannot be built here (field `model`): an unknown name, or a plugin this
    participant has not installed (or not in the job's version)."""

    def __init__(self, message: str) -> None:
        super().__init__("model", message)


@dataclass(frozen=True)
class Plugin:
    """One installed entry point of the `hcfl.models` group."""

    name: str  # the entry point's name: the model's name in a job
    value: str  # module:function
    distribution: str
    version: str

    @property
    def requirement(self) -> str:
        """`distribution==version`: what a job records, and what a participant must have installed."""
        return f"{self.distribution}=={self.version}"


def canonical(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503: case and -_. runs do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> tuple[str, str]:
    """`"dist==version"` -> `(dist, version)`; `ConfigError` (field `model_plugin`) otherwise."""
    dist, sep, version = str(text).partition("==")
    if not sep or not dist.strip() or not version.strip() or "=" in version:
        raise ConfigError("model_plugin", f"expected distribution==version, got {text!r}")
    return dist.strip(), version.strip()


def installed() -> tuple[Plugin, ...]:
    """Every `hcfl.models` entry point installed in this environment, by name."""
    found = []
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist
        found.append(Plugin(ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
    return tuple(sorted(set(found), key=lambda p: (p.name, canonical(p.distribution), p.version)))


def find(name: str, requirement: str | None = None) -> Plugin:
    """The installed entry point `name`, from the distribution and version of `requirement` when given.

    Raises `ModelUnavailable` with a one-line reason: not installed, installed by another
    distribution, or installed in another version.
    """
    candidates = [p for p in installed() if p.name == name]
    if requirement is None:
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ModelUnavailable(f"no plugin provides model {name!r} here (no {GROUP} entry point of that name "
                                   f"is installed)")
        raise ModelUnavailable(f"model {name!r} is provided by several plugins here "
                               f"({', '.join(p.requirement for p in candidates)}); name one")
    dist, version = parse_requirement(requirement)
    for p in candidates:
        if canonical(p.distribution) == canonical(dist) and p.version == version:
            return p
    where = f"{GROUP} entry point {name!r} of {dist}=={version}"
    if not candidates:
        raise ModelUnavailable(f"model {name!r} needs the plugin {where}, which is not installed here")
    raise ModelUnavailable(f"model {name!r} needs the plugin {where}; installed here: "
                           f"{', '.join(p.requirement for p in candidates)}")


def load(plugin: Plugin) -> Callable[..., object]:
    """The builder function of an installed entry point (imports the plugin's own module)."""
    for ep in metadata.entry_points(group=GROUP, name=plugin.name):
        dist = ep.dist
        if dist is not None and canonical(dist.name) == canonical(plugin.distribution) \
                and dist.version == plugin.version:
            try:
                return ep.load()
            except Exception as exc:  # an installed plugin that fails to import is a model we cannot build
                raise ModelUnavailable(f"the plugin {plugin.requirement} does not load its entry point "
                                       f"{plugin.value} ({type(exc).__name__}: {exc})") from exc
    raise ModelUnavailable(f"the plugin {plugin.requirement} is no longer installed")


__all__ = ["GROUP", "ModelUnavailable", "Plugin", "canonical", "find", "installed", "load", "parse_requirement"]
