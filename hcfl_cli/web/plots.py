"""The page's plots across rounds, drawn on the server with matplotlib as SVG.

Three plots of the closed rounds: the recycle pool and the subsidy, the winning welfare
and the taxes, and each participant's payment. The amounts are exact integers in the
model; they become floats here only to be drawn. Text in an SVG is drawn as paths
(matplotlib's default), and the page shows the SVG as an image, so nothing in it runs.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from hcfl_cli.web.model import RoundState, payment

PLOTS = ("pool", "welfare", "payments")
MAX_LEGEND = 24
"""More participants than this are drawn without a legend (it would hide the plot)."""


@dataclass(frozen=True)
class PlotData:
    """The numbers behind the three plots (equal data: equal plots, so it is a cache key)."""

    rounds: tuple[int, ...]
    subsidy: tuple[int, ...]
    subsidy_used: tuple[int, ...]
    pool: tuple[int, ...]
    welfare: tuple[int, ...]
    taxes: tuple[int, ...]
    payments: tuple[tuple[str, tuple[int | None, ...]], ...]  # label -> payment per round (None: absent)


def plot_data(rounds: Sequence[RoundState], pool_now: int = 0) -> PlotData:
    """The plots' numbers from the folded rounds; ``pool_now`` is the pool the current
    (last) round has gathered so far (the ``pool`` view)."""
    closed = [r for r in rounds if r.closed is not None]
    # the pool a round leaves is the next round's subsidy (the whole pool is reserved then)
    started = {r.round_id: r.subsidy for r in rounds}
    last = max(started, default=0)
    people: dict[str, str] = {}  # lower-case address -> label
    for r in closed:
        for m in r.owners + r.stations:
            people.setdefault(m.address.lower(), f"{m.role} {m.address[:8]}")
    series = []
    for addr, label in people.items():
        row = []
        for r in closed:
            m = r.member(addr)
            paid = None if m is None else payment(m)
            if m is None or paid is None:
                row.append(None)
                continue
            pay = -paid if m.role == "owner" else paid
            row.append(pay if m.bonus is None else pay + m.bonus)
        series.append((label, tuple(row)))
    return PlotData(
        tuple(r.round_id for r in closed), tuple(r.subsidy for r in closed),
        tuple(r.closed.subsidy_used for r in closed if r.closed is not None),
        tuple(started.get(r.round_id + 1, pool_now if r.round_id == last else 0) for r in closed),
        tuple(r.winning_welfare for r in closed), tuple(r.taxes for r in closed), tuple(series))


def _figure(title: str, legend_right: bool = False):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    # fixed margins: a layout engine would double the drawing time
    fig = Figure(figsize=(6.4, 3.4))
    fig.subplots_adjust(left=0.12, right=0.72 if legend_right else 0.97, bottom=0.15, top=0.9)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("round")
    ax.set_ylabel("wei")
    ax.grid(alpha=0.3)
    return fig, ax


def _svg(fig) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _rounds_axis(ax, rounds: Sequence[int]) -> None:  # type: ignore[no-untyped-def]
    ax.set_xticks(list(rounds))
    if not rounds:
        ax.text(0.5, 0.5, "no closed round yet", ha="center", va="center", transform=ax.transAxes, color="grey")


def render(name: str, d: PlotData) -> bytes:
    """Plot ``name`` (one of ``PLOTS``) as an SVG document."""
    x = list(d.rounds)
    if name == "pool":
        fig, ax = _figure("recycle pool and subsidy")
        ax.plot(x, d.subsidy, "o-", label="subsidy announced at the round's start")
        ax.plot(x, d.subsidy_used, "s--", label="subsidy used by the winner")
        ax.plot(x, d.pool, "^-", label="pool carried to the next round")
    elif name == "welfare":
        fig, ax = _figure("welfare of the winner and taxes")
        width = 0.38
        ax.bar([r - width / 2 for r in x], d.welfare, width, label="welfare S(x*)")
        ax.bar([r + width / 2 for r in x], d.taxes, width, label="Clarke taxes (sum)")
    elif name == "payments":
        legend = bool(x) and 0 < len(d.payments) <= MAX_LEGEND
        fig, ax = _figure("each participant's payment (owners pay: below 0)", legend_right=legend)
        if legend:  # one line per participant across the rounds it took part in
            for label, row in d.payments:
                ax.plot(x, [float("nan") if v is None else v for v in row], "o-", ms=3, lw=1, label=label)
            ax.legend(fontsize=6, ncols=2 if len(d.payments) > 12 else 1, loc="center left",
                      bbox_to_anchor=(1.01, 0.5))
        elif d.payments and x:  # too many to tell apart: every payment as one point, drawn at once
            points = [(r, v) for _, row in d.payments for r, v in zip(x, row) if v is not None]
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=10, alpha=0.6)
            ax.text(0.01, 0.98, f"{len(d.payments)} participants", transform=ax.transAxes, va="top", fontsize=8)
        ax.axhline(0, color="black", lw=0.6)
    else:
        raise ValueError(f"plot: expected one of {PLOTS}, got {name!r}")
    _rounds_axis(ax, x)
    if x and name != "payments":
        ax.legend(fontsize=8)
    return _svg(fig)


class PlotCache:
    """The plots of the latest data, each drawn when first asked for (the page's HTML does
    not wait for them) and kept until the data changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = plot_data([])
        self.version = 0
        self._svgs: dict[str, bytes] = {}

    def update(self, data: PlotData) -> None:
        with self._lock:
            if data != self._data:
                self._data, self._svgs = data, {}
                self.version += 1

    def get(self, name: str) -> bytes:
        with self._lock:  # one drawing at a time: matplotlib's font cache is shared
            if name not in self._svgs:
                self._svgs[name] = render(name, self._data)
            return self._svgs[name]
