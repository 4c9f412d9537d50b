"""What ``hcfl localnet`` watches while its agents play: the deployment's current round and
phase (one read of the chain a look), when each round was first seen started and finalized,
the memory of every process it started, counted to the round that was current, and the
processes themselves (found by their environment, so that none is left behind)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

AGENT_ENV_TAG = "HCFL_LOCALNET"
"""Every process a localnet starts carries this variable (its folder), so a check can find
any one left behind."""
AGENT_NAME_ENV = "HCFL_AGENT"
"""...and this one, the agent's name: its Flower processes run in sessions of their own, so
an agent's whole machine is found by its environment, not by its process group."""


class RoundWatch:
    """The deployment's rounds as seen from outside, look after look (``rpc`` and ``sender``:
    read when the first look is made, once the node is up)."""

    def __init__(self, deployment: Path, rpc: Callable[[], str], sender: Callable[[], str]) -> None:
        self.deployment = deployment
        self._rpc = rpc
        self._sender = sender
        self._client: Any = None
        self.peak_by_round: dict[int, int] = {}  # round -> the most memory (kB) all processes held while current
        self.times: dict[int, tuple[float, float | None]] = {}  # round -> (seen started, seen finalized)
        self.last: tuple[int, str, int] | None = None  # the last look that ``note`` made

    def look(self) -> tuple[int, str, int]:
        """The current round, its phase and the seconds to its deadline (round 0 while there is
        no deployment or the node does not answer)."""
        try:
            if self._client is None:
                if not self.deployment.exists():
                    return 0, "", 0
                from contracts.chain import connect
                from contracts.client import DeploymentClient
                from contracts.deployment_file import DeploymentFile

                self._client = DeploymentClient.attach(DeploymentFile.read(self.deployment).address,
                                                       chain=connect(self._rpc()), sender=self._sender())
            w = self._client
            w.round_id = w.views.current_round()
            v = w.round(live=True)
            left = 0 if v.phase == "Finalized" or v.deadline is None or v.now is None else max(0, v.deadline - v.now)
            return v.round_id, str(v.phase), left
        except Exception:  # noqa: BLE001 (a status line never stops the round)
            return 0, "", 0

    def note(self, memory_kb: int, now_s: float) -> tuple[int, str, int]:
        """One look, with the processes' memory now and the seconds since the deployment."""
        rid, phase, left = self.last = self.look()
        if rid:
            started, finalized = self.times.get(rid, (now_s, None))
            self.times[rid] = (started, now_s if phase == "Finalized" and finalized is None else finalized)
            self.peak_by_round[rid] = max(self.peak_by_round.get(rid, 0), memory_kb)
        return rid, phase, left

    def phase_line(self) -> str:
        """``round 1: Commit, 7 s to its deadline`` (at the last ``note``, or a look now)."""
        rid, phase, left = self.last or self.look()
        if not rid:
            return "(waiting for the deployment)"
        if phase == "Finalized":
            return f"round {rid}: Finalized"
        return f"round {rid}: {phase}, {left} s to its deadline"


def pss_kb(pid: int) -> int:
    """A process's proportional set size (kB; 0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def leftover_processes(tag: str, agent: str | None = None) -> list[int]:
    """Live processes (other than this one, zombies left out) whose environment carries
    ``AGENT_ENV_TAG=tag`` (and, given ``agent``, ``AGENT_NAME_ENV=agent``)."""
    needles = [f"{AGENT_ENV_TAG}={tag}".encode()] + ([f"{AGENT_NAME_ENV}={agent}".encode()] if agent else [])
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            env = (entry / "environ").read_bytes().split(b"\0")
            if all(n in env for n in needles) and " Z " not in (entry / "stat").read_text().rsplit(")", 1)[-1][:3]:
                found.append(int(entry.name))
    return found
