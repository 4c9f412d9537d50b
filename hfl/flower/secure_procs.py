"""What the SuperLink and the SuperNodes of the authenticated deployment share as processes:
a port fixed before they start, and a process tag that outlives the agent that started them.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from hfl.flower.procs import tagged_pids


def claim_tag(work_dir: Path, name: str) -> str:
    """A fresh process tag for `name` in `work_dir`, after stopping what a previous incarnation
    left running under the tag recorded there (an agent killed and restarted must not leave a
    second SuperLink on its port, or two SuperNodes with one key)."""
    import uuid

    work_dir.mkdir(parents=True, exist_ok=True)
    record = work_dir / f"{name}.tag"
    if record.is_file():
        old = record.read_text().strip()
        if old:
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                pids = tagged_pids(old)
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
                deadline = time.monotonic() + wait
                while tagged_pids(old) and time.monotonic() < deadline:
                    time.sleep(0.1)
    tag = f"hcfl-{name}-{uuid.uuid4().hex}"
    record.write_text(tag + "\n")
    return tag


def pick_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now, to fix the SuperLink's address long before it starts (it goes
    into the proposal's description at Propose time)."""
    bind = "0.0.0.0" if host in ("", "0.0.0.0") else host
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


__all__ = ["claim_tag", "pick_port"]
