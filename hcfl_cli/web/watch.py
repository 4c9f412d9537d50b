"""The watcher: one background thread that follows the chain and keeps the page rendered.

Each tick asks the node for its head block; only when there is a new one does it read the
deployment's logs of the new blocks (HCFL's and its HCFLTraining's, incrementally: a
deployment's history is read once),
the current round's views and, for the rounds whose events changed, the audit (the same
``hcfl_cli.audit.audit_round`` as ``hcfl audit``). It then renders the page's two parts
(the live round, and the history with the plots) into a ``Snapshot``: a request only
returns strings that are already there, so a thousand page loads cost the node nothing,
and a slow node never holds a request up.

A node that stops answering turns into a message on the page (with the last data, marked
as such); the watcher keeps polling, and the page recovers by itself when the node answers
again. A node that comes back as another chain, without the contract, or with its history
rewritten (a reorganisation, a restarted development node) is detected and the
deployment is read again from its first block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.deployment_file import DeploymentFile, contracts_of
from hcfl_cli.audit import RoundAudit, audit_round, stored_contribution_hashes
from hcfl_cli.web.chain_reader import ChainReader, Head, Live, NodeError, Parameters, WrongNode
from hcfl_cli.web.descriptions import DescriptionCache, DescriptionStatus
from hcfl_cli.web.model import DeploymentModel, RoundState
from hcfl_cli.web.plots import PlotCache, plot_data

LOG = logging.getLogger("hcfl.web")
MAX_BLOCKS_PER_TICK = 50_000
"""While catching up with a long chain the page is rendered every this many blocks (with
its progress), so the first look is not a blank wait."""


@dataclass(frozen=True)
class Expected:
    """What a deployment file says the node must hold (``--deployment``): its chain, and
    the keccak of each contract's code by name (``HCFL``, ``HCFLTraining``: the names of
    ``contracts.deployment_file.contracts_of``)."""

    chain_id: int
    code_hashes: dict[str, bytes]

    @classmethod
    def of(cls, f: DeploymentFile) -> Expected:
        """What the deployment file ``f`` pins (a file without ``contracts``: HCFL's code only)."""
        named = {name: bytes.fromhex(c["code_hash"].removeprefix("0x")) for name, c in f.contracts.items()}
        return cls(f.chain_id, {**named, "HCFL": f.code_hash})


@dataclass(frozen=True)
class Status:
    """The node as the page last found it: ``kind`` ok, connecting, down or wrong."""

    kind: str
    message: str = ""
    since: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


@dataclass(frozen=True)
class Snapshot:
    """The page, rendered: what every request returns until the next change."""

    page: str
    live: str
    history: str
    live_version: int
    history_version: int


@dataclass
class PageState:
    """Everything the templates read (``hcfl_cli.web.page``), owned by the watcher thread."""

    url: str
    address: str
    poll_s: float
    params: Parameters | None = None
    head: Head | None = None
    live: Live | None = None
    status: Status = field(default_factory=lambda: Status("connecting", "connecting to the node"))
    model: DeploymentModel = field(default_factory=DeploymentModel)
    audits: dict[int, RoundAudit] = field(default_factory=dict)
    loading: tuple[int, int] | None = None  # (last block read, head) while catching up
    plot_version: int = 0
    docs: Callable[[str, bytes], DescriptionStatus] | None = None

    @property
    def current(self) -> RoundState | None:
        if self.live is None:
            return None
        return self.model.rounds.get(self.live.current_round)

    @property
    def past(self) -> list[RoundState]:
        cur = self.live.current_round if self.live is not None else None
        return [r for r in reversed(self.model.ordered) if r.round_id != cur]

    def document(self, uri: str, content_hash: bytes) -> DescriptionStatus:
        if self.docs is None:
            return DescriptionStatus("unverified", reason="documents are not fetched by this page")
        return self.docs(uri, content_hash)


def check_node(r: ChainReader, expected: Expected | None) -> None:
    """``WrongNode`` unless the node holds the deployment: HCFL at its address, the
    HCFLTraining it names (``TRAINING()``) with code, and, when ``expected``, the file's
    chain and both contracts' code; ``NodeError`` when it does not answer."""
    if expected is not None and r.chain_id != expected.chain_id:
        raise WrongNode(f"The node at {r.url} is chain {r.chain_id}, but the deployment file is for chain "
                        f"{expected.chain_id}")
    if not r.has_code():
        raise WrongNode(f"There is no contract at {r.address} on the node at {r.url} (chain {r.chain_id})")
    if not r.has_code(r.training):
        raise WrongNode(f"The contract at {r.address} names its training contract at {r.training}, "
                        f"but there is no contract there")
    if expected is None:
        return
    found = contracts_of(r)  # HCFL at its address, HCFLTraining at TRAINING()
    for name, want in expected.code_hashes.items():
        got = found.get(name)
        if got is None or bytes.fromhex(got["code_hash"].removeprefix("0x")) != want:
            where = got["address"] if got is not None else r.address
            raise WrongNode(f"The contract {name} at {where} is not the deployment file's: its code differs")


class Renderer(Protocol):
    """Renders the page (``hcfl_cli.web.page.Renderer``)."""

    def parts(self, state: PageState) -> tuple[str, str]: ...  # the live part, the history part

    def page(self, state: PageState, live_version: int, history_version: int) -> str: ...


class Watcher:
    """Follows one deployment on one node (see the module docstring).

    ``renderer`` turns the state into HTML (``hcfl_cli.web.page``); ``plots`` draws the
    plots of the latest data when they are asked for. ``tick()`` does one poll (tests call it
    directly); ``start()`` runs ticks every ``poll_s`` seconds in a daemon thread.
    """

    def __init__(self, reader: ChainReader, *, renderer: Renderer, poll_s: float = 1.0,
                 expected: Expected | None = None, docs: DescriptionCache | None = None) -> None:
        self.reader = reader
        self.renderer = renderer
        self.plots = PlotCache()
        self.poll_s = poll_s
        self.expected = expected
        self.state = PageState(reader.url, reader.address, poll_s)
        if docs is not None:
            docs.on_change = self.wake
            self.state.docs = docs.get
        self.docs = docs
        self._cursor = reader.from_block  # the next block whose logs are to be read
        self._last: Head | None = None  # the last block read completely
        self._checked = False  # node identity checked since it last failed
        self._dirty = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set after the first tick, whatever it found
        self.snapshot = self._render_snapshot(None)

    # -- the loop ------------------------------------------------------------------------
    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name="hcfl-web-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.docs is not None:
            self.docs.close()

    def wake(self) -> None:
        """Something outside the chain changed (a document arrived): render again soon."""
        self._dirty = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.tick()
            if self.state.loading is not None:
                continue  # catching up: read the next blocks at once
            self._wake.wait(max(0.0, self.poll_s - (time.monotonic() - t0)))
            self._wake.clear()

    def tick(self) -> None:
        """One poll of the node, then a render if anything the page shows changed."""
        try:
            changed = self._poll()
            if not self.state.status.ok:
                self.state.status = Status("ok")
                changed = True
        except NodeError as exc:
            changed = self._failed(exc)
        except Exception as exc:  # never a dead watcher: the page says it, the operator's log has the trace
            LOG.exception("hcfl web: reading the chain failed")
            changed = self._failed(NodeError(f"{type(exc).__name__}: {exc}"))
        if changed or self._dirty:
            self._dirty = False
            self.snapshot = self._render_snapshot(self.snapshot)
        self.ready.set()

    def _failed(self, exc: NodeError) -> bool:
        self._checked = False
        self.reader.forget_chain()
        kind = "wrong" if isinstance(exc, WrongNode) else "down"
        if kind == "down":
            message = (f"The node at {self.reader.url} does not answer ({exc}). The page shows what it read "
                       f"until then and tries again every {self.poll_s:g} s.")
        else:
            message = f"{exc}. The page tries again every {self.poll_s:g} s."
        old = self.state.status
        if old.kind == kind and old.message == message:
            return False
        self.state.status = Status(kind, message, old.since if old.kind == kind else time.time())
        return True

    # -- reading the chain --------------------------------------------------------------------
    def _reset(self) -> None:
        """Forget everything read: the node's history is not the one read before."""
        self._cursor, self._last = self.reader.from_block, None
        self.state.model, self.state.audits, self.state.params, self.state.live = DeploymentModel(), {}, None, None

    def _poll(self) -> bool:
        r, s = self.reader, self.state
        head = r.head()
        if not self._checked:
            check_node(r, self.expected)
            self._checked = True
        if self._last is not None and head.hash == self._last.hash:
            return False
        if self._last is not None and (head.number < self._last.number
                                       or r.block_hash(self._last.number) != self._last.hash):
            self._reset()
        fresh, before = self._last is None, (s.live, s.loading)
        if s.params is None:
            s.params = r.parameters()
        last = min(head.number, self._cursor + MAX_BLOCKS_PER_TICK - 1)
        new = r.events(self._cursor, last) if last >= self._cursor else []
        live = r.live(head.number) if last == head.number else None
        self._cursor = last + 1
        changed = s.model.apply(new)
        if live is None:
            s.loading = (last, head.number)
        else:
            s.loading, s.live, s.head, self._last = None, live, head, head
        self._audit(changed)
        # a block without events of this contract changes nothing on the page but the clock
        return fresh or bool(new) or (s.live, s.loading) != before

    def _audit(self, changed: set[int]) -> None:
        """Audit again every round whose events changed, with the auditor's own code (on the
        model's round: the same fold of the same logs as ``hcfl audit``'s)."""
        s = self.state
        if s.params is None:
            return
        for rid in sorted(changed):
            log = s.model.rounds[rid]
            try:
                stored = stored_contribution_hashes(self.reader, [rid]).get(rid) if log.report is not None else None
                s.audits[rid] = audit_round(log, None, stored, s.params.address, s.params.bonus_bps)
            except ValueError as exc:  # logs the auditor cannot rebuild a round from
                s.audits[rid] = RoundAudit(rid, [], None, len(log.owners) + len(log.stations), len(log.budgets),
                                           unauditable=str(exc))

    # -- rendering ----------------------------------------------------------------------------
    def _render_snapshot(self, old: Snapshot | None) -> Snapshot:
        s = self.state
        self.plots.update(plot_data(s.model.ordered, s.live.pool if s.live is not None else 0))
        s.plot_version = self.plots.version
        live, history = self.renderer.parts(s)
        live_v = (old.live_version if old else 0) + int(old is None or live != old.live)
        hist_v = (old.history_version if old else 0) + int(old is None or history != old.history)
        if old is not None and (live_v, hist_v) == (old.live_version, old.history_version):
            page = old.page  # a part's version moves only when its HTML does, and the page with it
        else:
            page = self.renderer.page(s, live_v, hist_v)
        return Snapshot(page, live, history, live_v, hist_v)

    def update(self, live_version: int, history_version: int) -> dict[str, Any]:
        """What a page showing those versions needs: the parts that changed, and the last
        block read with its time (the chain's clock, the countdown's origin)."""
        snap, head = self.snapshot, self.state.head
        out: dict[str, Any] = {"block": head.number if head else None, "now": head.timestamp if head else None,
                               "ok": self.state.status.ok}
        if live_version != snap.live_version:
            out["live"] = {"version": snap.live_version, "html": snap.live}
        if history_version != snap.history_version:
            out["history"] = {"version": snap.history_version, "html": snap.history}
        return out
