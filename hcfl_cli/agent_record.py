"""What an agent writes down: one record per round it served (what it claimed, measured,
voted, trained, why it did not register) and its own resources at the end of each round
(resident memory, open descriptors, threads, child processes), in ``work/agent.json``.

The file is a record for people and for ``hcfl localnet``, never the agent's memory: a
restarted agent rebuilds what it does from the chain and its secret store, and keeps the
records of the rounds before (of the same deployment and address) in the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RESULT_FILE = "agent.json"


@dataclass
class RoundRecord:
    """One round as this agent saw it."""

    round_id: int
    index: int | None = None
    registered: bool = False
    registration: str | None = None  # why it did not register (a refused ticket)
    subsidy: int = 0
    proposed: list[str] = field(default_factory=list)  # its plans' names proposed in the round
    trained_plan: str | None = None  # its plan that won and was trained in the round
    claims: list[str] = field(default_factory=list)
    measured_accuracy: float | None = None
    promised_accuracy_bps: int | None = None
    punish: bool | None = None
    refused: str | None = None  # the model it refused to measure, and why
    trained: dict[str, Any] | None = None
    actions: int = 0
    ended: bool = False
    rss_kb: int = 0  # resident memory when the round ended for this agent
    max_rss_kb: int = 0  # the process's peak so far
    open_fds: int = 0
    threads: int = 0
    children: int = 0  # live child processes (its Flower processes run while a round trains)


@dataclass
class Results:
    """The agent's result file."""

    name: str
    role: str
    address: str
    deployment: str
    rounds: dict[int, RoundRecord] = field(default_factory=dict)
    max_rss_kb: int = 0

    def round(self, round_id: int) -> RoundRecord:
        return self.rounds.setdefault(round_id, RoundRecord(round_id))

    @classmethod
    def load(cls, path: Path, name: str, role: str, address: str, deployment: str) -> Results:
        """The records already in ``path`` for this deployment and address (none otherwise)."""
        fresh = cls(name, role, address, deployment)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return fresh
        if not isinstance(data, dict) or (data.get("address"), data.get("deployment")) != (address, deployment):
            return fresh
        known = {f.name for f in fields(RoundRecord)}
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            for key, rec in dict(data.get("rounds", {})).items():
                fresh.rounds[int(key)] = RoundRecord(**{k: v for k, v in rec.items() if k in known})
        return fresh

    def save(self, path: Path) -> None:
        self.max_rss_kb = resources()["max_rss_kb"]
        data = {**asdict(self), "rounds": {str(k): asdict(v) for k, v in sorted(self.rounds.items())}}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)


def resources() -> dict[str, int]:
    """This process's resident memory and its peak (kB), open descriptors, threads and live
    child processes, from /proc (zeros where there is none)."""
    out = {"rss_kb": 0, "max_rss_kb": 0, "open_fds": 0, "threads": 0, "children": 0}
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[{"VmRSS": "rss_kb", "VmHWM": "max_rss_kb", "Threads": "threads"}[key]] = int(value.split()[0])
    with contextlib.suppress(OSError):
        out["open_fds"] = len(os.listdir("/proc/self/fd"))
    out["children"] = len(children(os.getpid()))
    return out


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def measure(rec: RoundRecord) -> None:
    """Write this process's resources now into ``rec``."""
    for key, value in resources().items():
        setattr(rec, key, value)
