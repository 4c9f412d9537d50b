"""What a user types, read exactly: amounts in wei, claims, files; every error names its option.

Amounts are whole numbers of wei (no floats near money). ``--claims`` and ``--claims-file``
give one claim per proposal, in proposal-index order (the order the proposals were mined,
``hcfl status`` lists them so).
"""

from __future__ import annotations

import json
from pathlib import Path


def parse_amounts(text: str, option: str) -> list[int]:
    """Comma-separated non-negative integers (wei), exactly."""
    try:
        out = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated whole numbers, got {text!r}") from None
    if any(x < 0 for x in out):
        raise ValueError(f"{option}: amounts cannot be negative, got {text!r}")
    return out


def read_claims(claims: str | None, claims_file: Path | None) -> list[int] | None:
    """Claims from ``--claims a,b,c`` or ``--claims-file`` (a JSON list or comma-separated)."""
    if claims is not None and claims_file is not None:
        raise ValueError("--claims/--claims-file: give one of them, not both")
    if claims_file is not None:
        try:
            text = claims_file.read_text().strip()
        except OSError as e:
            raise ValueError(f"--claims-file: cannot read {claims_file}: {e.strerror}") from None
        if text.startswith("["):
            try:
                data = json.loads(text)
                if not all(isinstance(x, int) and not isinstance(x, bool) for x in data):
                    raise ValueError
            except ValueError:
                raise ValueError(f"--claims-file: {claims_file} is not a JSON list of whole numbers") from None
            return parse_amounts(",".join(str(x) for x in data), "--claims-file")
        return parse_amounts(text, "--claims-file")
    return parse_amounts(claims, "--claims") if claims is not None else None


def read_bytes(path: Path, option: str) -> bytes:
    """A file's bytes; an unreadable one is a ``ValueError`` naming ``option``."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"{option}: cannot read {path}: {e.strerror}") from None


def file_digest(path: Path, option: str) -> bytes:
    """The sha256 of a file (``hfl.digest.file_sha256``), as the 32 bytes the chain records;
    an unreadable file is a ``ValueError`` naming ``option``."""
    from hfl.digest import file_sha256

    try:
        return bytes.fromhex(file_sha256(path))
    except OSError as e:
        raise ValueError(f"{option}: cannot read {path}: {e.strerror}") from None
