"""Processes of a local Flower deployment: start them tagged, watch them, always stop all of them.

Flower's SuperLink and SuperNodes start helpers of their own (`flower-superexec`, which in turn
starts one `flwr-serverapp` / `flwr-clientapp` per run or message) in *new sessions*
(`start_new_session=True`), so neither our process group nor the parent-child tree is enough to
find them once a parent has died. Every process we start therefore carries an environment
variable with a tag unique to the deployment; children inherit it, and `stop` finds every live
process holding the tag in `/proc/<pid>/environ`, whatever session or parent it has by then.
On systems without `/proc` only the processes we started ourselves (and their process groups)
are stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Self

TAG_ENV = "HCFL_FLOWER_TAG"
LOOPBACK = "127.0.0.1"


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """`n` distinct ports that are free on `host` now (all sockets are held until each has one)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
    return ports


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat[stat.rindex(")") + 2] in "ZX"


def tagged_pids(tag: str | None) -> list[int]:
    """Live processes (not zombies) whose environment holds `HCFL_FLOWER_TAG=<tag>` (any tag when
    `tag` is None); [] without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    needle = f"{TAG_ENV}={tag or ''}".encode()
    me = os.getpid()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        hit = any(v == needle or (tag is None and v.startswith(needle)) for v in env.split(b"\0"))
        if hit and not _is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


@dataclass
class Managed:
    """One process we started: its role (for messages), its handle and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


class ProcessGroup:
    """Processes started with a shared tag; `stop()` (also on `with` exit) ends all of them.

    `stop` sends SIGTERM to everything holding the tag, waits up to `grace` seconds, then sends
    SIGKILL to whatever is left, and reaps the processes it started itself.
    """

    def __init__(self, env: Mapping[str, str] | None = None, tag: str | None = None) -> None:
        self.tag = tag or f"hcfl-{uuid.uuid4().hex}"
        self.env = dict(os.environ if env is None else env)
        self.env[TAG_ENV] = self.tag
        self.procs: list[Managed] = []

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> Managed:
        """Start `argv` in its own session, stdout and stderr to `log_path`."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env, cwd=cwd, start_new_session=True)
        managed = Managed(name, popen, log_path)
        self.procs.append(managed)
        return managed

    def exited(self) -> list[Managed]:
        """The started processes that have ended (their return code is in `popen.returncode`)."""
        return [m for m in self.procs if m.popen.poll() is not None]

    def live_pids(self) -> list[int]:
        """Every live process of this group: the tagged ones, plus our own children still running."""
        pids = set(tagged_pids(self.tag))
        pids.update(m.popen.pid for m in self.procs if m.popen.poll() is None)
        return sorted(pids)

    def _signal_all(self, sig: signal.Signals) -> None:
        for m in self.procs:
            if m.popen.poll() is None:
                try:  # the whole session's group: catches children even where /proc is missing
                    os.killpg(m.popen.pid, sig)
                except OSError:
                    pass
        for pid in tagged_pids(self.tag):
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM everything, SIGKILL what is still alive after `grace` seconds; reap our children."""
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.live_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.live_pids():
            self._signal_all(signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while self.live_pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        for m in self.procs:
            try:
                m.popen.wait(timeout=5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                pass

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GroupOwner:
    """A federation whose processes are one `ProcessGroup` (`self.group`): `stop()`, and leaving
    a `with` block however it is left, end all of them."""

    group: ProcessGroup

    def stop(self) -> None:
        self.group.stop()

    def live_pids(self) -> list[int]:
        return self.group.live_pids()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tail(path: Path, n: int = 20) -> str:
    """The last `n` lines of a log file ('' when it does not exist)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


__all__ = ["LOOPBACK", "Managed", "ProcessGroup", "TAG_ENV", "free_ports", "port_open", "tagged_pids", "tail"]
