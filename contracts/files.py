"""A participant's private files, written one way: mode 0600, whole or not at all, durable.

Keystores (``contracts.keys``), sealed claims (``contracts.secret_store``) and transactions in
flight (``contracts.outbox``) are what a participant must not lose and nobody else may read:
each is written to a temporary file (0600), fsynced, moved into place and the folder fsynced,
so that a crash leaves the old file or the new one, never half of one, and the move itself
survives a power loss.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` (mode 0600) durably; with ``exclusive``, never over an
    existing file (``FileExistsError``, nothing written)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        if exclusive:
            os.link(tmp, path)  # atomic, and refuses an existing name
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


write_durably = write_private
"""The name the secret store and the outbox knew it by."""
