"""The proposals' description documents, fetched for the page in the background.

Each document is fetched once with the project's fetcher (``hcfl_cli.documents.fetch``),
which checks it against the sha256 the proposal logged on chain, and parsed as a
``Description``. One that cannot be fetched, is too large, differs from its hash or is no
description document is *unverified*: the page says why and shows none of its content.
Failures are tried again after ``retry_s`` (the proposer's server may come back).

The URI comes from the chain: only ``http(s)`` URIs are fetched unless the page's operator
allows local files (``allow_files``, for a deployment whose documents are files on this
machine); a ``file:`` path on a page served to others would let any proposer probe the
server's disk, and a special file (a FIFO, ``/dev/zero``) would hang it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hcfl_cli.documents import Description, DocumentError, local_path, fetch

MAX_DESCRIPTION_BYTES = 1 << 20
"""A description document is a small JSON file; a larger one is refused unread."""
RETRY_S = 60.0

_HTTP_URI = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def http_uri(uri: object) -> bool:
    """Whether ``uri`` is an ``http(s)`` URL with no whitespace or control character (the
    only kind the page makes a link of, or fetches)."""
    return isinstance(uri, str) and _HTTP_URI.fullmatch(uri) is not None


@dataclass(frozen=True)
class DescriptionStatus:
    """One proposal's document as the page knows it."""

    state: str  # "pending", "verified" or "unverified"
    description: Description | None = None
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.state == "verified"


PENDING = DescriptionStatus("pending", reason="fetching")


class DescriptionCache:
    """Fetches description documents on a small thread pool; ``get`` never blocks.

    ``on_change`` is called (from a worker) whenever a fetch ends, so the watcher can
    render the page again. ``folder`` holds the fetched files (one per content hash).
    """

    def __init__(self, folder: Path, *, allow_files: bool = False, retry_s: float = RETRY_S,
                 on_change: Callable[[], None] = lambda: None, workers: int = 2) -> None:
        self.folder = Path(folder)
        self.allow_files = allow_files
        self.retry_s = retry_s
        self.on_change = on_change
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcfl-web-doc")
        self._lock = threading.Lock()
        self._known: dict[tuple[str, bytes], tuple[DescriptionStatus, float]] = {}

    def get(self, uri: str, content_hash: bytes) -> DescriptionStatus:
        """What is known of the document at ``uri`` with ``content_hash``; a fetch is started
        (or started again after ``retry_s``) when there is none yet."""
        if not any(content_hash):
            return DescriptionStatus("unverified", reason="the proposal names no description document")
        if not uri:
            return DescriptionStatus("unverified", reason="the proposal gives no URI for its description document")
        if not http_uri(uri) and not (self.allow_files and local_path(uri) is not None):
            return DescriptionStatus("unverified", reason="not fetched: the page fetches http(s) URIs only")
        key = (uri, bytes(content_hash))
        with self._lock:
            known = self._known.get(key)
            if known is not None and (known[0].state != "unverified" or time.monotonic() < known[1]):
                return known[0]
            self._known[key] = (known[0] if known else PENDING, float("inf"))
        self._pool.submit(self._fetch, key)
        return known[0] if known else PENDING

    def _fetch(self, key: tuple[str, bytes]) -> None:
        uri, content_hash = key
        status = self._read(uri, content_hash.hex())
        with self._lock:
            self._known[key] = (status, time.monotonic() + self.retry_s)
        self.on_change()

    def _read(self, uri: str, sha256: str) -> DescriptionStatus:
        try:
            local = None if http_uri(uri) else local_path(uri)
            if local is not None and not (local.is_file() and local.stat().st_size <= MAX_DESCRIPTION_BYTES):
                raise DocumentError(f"description: {uri} is not a regular file of at most "
                                    f"{MAX_DESCRIPTION_BYTES} bytes")
            dest = self.folder / hashlib.sha256(f"{uri}\n{sha256}".encode()).hexdigest()
            path = fetch(uri, sha256, dest, what="description", max_bytes=MAX_DESCRIPTION_BYTES)
            return DescriptionStatus("verified", Description.from_bytes(path.read_bytes(), where="description"))
        except (DocumentError, OSError) as exc:
            return DescriptionStatus("unverified", reason=str(exc))
        except Exception as exc:  # a malformed URL or response: still only a line on the page
            return DescriptionStatus("unverified", reason=f"description: cannot fetch {uri}: {exc}")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
