"""The page's HTML: Jinja2 templates rendered on the server, with autoescaping always on.

Everything the templates show that comes from the chain or a fetched document (addresses,
URIs, document fields, error messages quoting them) goes through autoescaping as text;
nothing is marked safe. A URI becomes a link only when it is a plain ``http(s)`` URL
(``http_uri``), and then also only as the escaped value of an ``href``; any other URI
(``javascript:``, ``data:``, a file path) is shown as text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

from contracts.constants import PHASE_FINALIZED, PHASES
from hcfl_cli.web.descriptions import http_uri
from hcfl_cli.web.model import payment, progress
from hcfl_cli.web.plots import PLOTS
from hcfl_cli.web.watch import PageState

TEMPLATES = Path(__file__).parent / "templates"
CLIP = 160
"""Longest text shown from the chain or a document in one cell (the rest is cut, with a mark)."""


def wei(value: int | None) -> str:
    """An exact amount: every digit, grouped by thousands."""
    return "—" if value is None else f"{int(value):,}"


def percent(bps: int | None) -> str:
    return "—" if bps is None else f"{int(bps) / 100:.2f} %"


def utc(ts: int | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: int) -> str:
    s = int(seconds)
    if s < 0:
        return "passed"
    d, rest = divmod(s, 86_400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    return (f"{d} d " if d else "") + (f"{h:02d}:{m:02d}:{sec:02d}" if d or h else f"{m:02d}:{sec:02d}")


def clip(value: Any, limit: int = CLIP) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def hexbytes(value: bytes | None) -> str:
    return "—" if value is None else "0x" + bytes(value).hex()


def labels(mask: int) -> str:
    """A label bitmask as the list of its labels."""
    bits = [str(k) for k in range(int(mask).bit_length()) if mask >> k & 1]
    return ", ".join(bits) if bits else "none"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(wei=wei, percent=percent, utc=utc, duration=duration, clip=clip, hexbytes=hexbytes,
                       labels=labels, payment=payment, progress=progress)
    env.tests["http_uri"] = http_uri
    env.globals.update(PHASES=PHASES, PLOTS=PLOTS, FINALIZED=PHASE_FINALIZED)
    return env


class Renderer:
    """Renders the page and its two live parts from the watcher's ``PageState``."""

    def __init__(self) -> None:
        self.env = _environment()
        self._live = self.env.get_template("live.html")
        self._history = self.env.get_template("history.html")
        self._page = self.env.get_template("page.html")

    def parts(self, state: PageState) -> tuple[str, str]:
        return self._live.render(s=state), self._history.render(s=state)

    def page(self, state: PageState, live_version: int, history_version: int) -> str:
        return self._page.render(s=state, live_version=live_version, history_version=history_version)
