"""Content hashes of files: what the chain records for model files, TLS CA certificates and node keys.

Kept free of heavy imports, so that the Flower launcher (`hfl.flower.secure`) checks a CA
certificate without first importing torch.
"""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, as lowercase hex (no 0x)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = ["file_sha256"]
