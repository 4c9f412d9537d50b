"""Documents whose sha256 is on chain: a proposal's description and a trained model (SPEC
section 8, "Documents").

A document is published as a file path (``/path``, ``file:///path``) or over http(s); the
participant that fetches one checks its sha256 against the chain and refuses a mismatch
with a ``DocumentError`` saying both hashes. ``FolderServer`` serves an agent's own folder
over HTTP (``http.server`` in a thread) so that the others can fetch what it publishes.

The description document is JSON (``Description``): model, dataset, target labels, the
training job's ``hfl.TrainConfig`` fields, the promised accuracy, the parameter count, and
the proposer's Flower SuperLink (fleet address, the sha256 of its TLS CA certificate and
where that certificate can be fetched); the data's class names and image shape and how the
model is fed them (``input``); for a model from a plugin, its ``hcfl.models`` entry point and
the distribution and version that provide it (``plugin``, see ``hfl.plugins``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfl.digest import file_sha256

DESCRIPTION_FORMAT = 1
FETCH_TIMEOUT_S = 30.0
MAX_DOCUMENT_BYTES = 2 * 1024**3
"""A published file larger than this is refused (a model of ResNet-50 is about 100 MB)."""


class DocumentError(ValueError):
    """A document that cannot be fetched, or whose sha256 differs from the chain's."""


sha256_file = file_sha256
"""A file's sha256 as hex (``hfl.digest.file_sha256``, the one the trainer and Flower use)."""


def local_path(uri: str) -> Path | None:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme == "file":
        return Path(urllib.parse.unquote(parts.path))
    if parts.scheme == "" and uri:
        return Path(uri)
    return None


def fetch(uri: str, expected_sha256: str, dest: Path, *, what: str = "document",
          max_bytes: int = MAX_DOCUMENT_BYTES) -> Path:
    """Fetch ``uri`` into ``dest`` (written whole, then renamed) and check its sha256.

    A file already at ``dest`` with the expected hash is kept (a restarted agent does not
    fetch twice). Raises ``DocumentError`` when the URI cannot be read or the hash differs;
    nothing is left at ``dest`` then. ``max_bytes``: a larger document is refused.
    """
    expected = expected_sha256.lower().removeprefix("0x")
    if dest.exists() and sha256_file(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    local = local_path(uri)
    try:
        if local is not None:
            data = local.read_bytes()
        elif urllib.parse.urlsplit(uri).scheme in ("http", "https"):
            with urllib.request.urlopen(uri, timeout=FETCH_TIMEOUT_S) as resp:  # noqa: S310 (http(s) only)
                data = resp.read(max_bytes + 1)
        else:
            raise DocumentError(f"{what}: cannot fetch {uri!r}: expected a file path or an http(s) URL")
    except OSError as e:
        raise DocumentError(f"{what}: cannot fetch {uri}: {getattr(e, 'reason', None) or e.strerror or e}") from None
    if len(data) > max_bytes:
        raise DocumentError(f"{what}: {uri} is larger than {max_bytes} bytes")
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DocumentError(f"{what}: the sha256 of {uri} is {got}, the chain says {expected}: refused")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class FolderServer:
    """Serve one folder over HTTP in a daemon thread (``start``, ``url_of``, ``stop``)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder)
        self.host = host
        self.port = port
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> FolderServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(self.folder))
        http.server.ThreadingHTTPServer.allow_reuse_address = True  # a restarted agent rebinds its port
        self._server = http.server.ThreadingHTTPServer((self.host, self.port), handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True, name="hcfl-publish").start()
        return self

    def url_of(self, path: Path) -> str:
        rel = Path(path).resolve().relative_to(self.folder.resolve())
        return f"http://{self.host}:{self.port}/{urllib.parse.quote(rel.as_posix())}"

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.shutdown()
                self._server.server_close()
            self._server = None


@dataclass(frozen=True)
class Description:
    """A proposal's description document (its sha256 is the proposal's ``content_hash``)."""

    model: str
    dataset: str
    target_labels: tuple[int, ...]
    accuracy_bps: int
    global_rounds: int
    param_count: int
    train: dict[str, Any] = field(default_factory=dict)  # further hfl.TrainConfig fields
    superlink: dict[str, str] = field(default_factory=dict)  # fleet_address, ca_sha256, ca_uri
    proposer: str = ""
    classes: tuple[str, ...] = ()  # the data's class names: target label l is classes[l]
    # channels, height, width (the data's), model_height, model_width (what the model is fed), adaptation
    input: dict[str, Any] = field(default_factory=dict)
    plugin: dict[str, str] = field(default_factory=dict)  # group, entry_point, distribution, version

    def to_bytes(self) -> bytes:
        data = {"format": DESCRIPTION_FORMAT, "model": self.model, "dataset": self.dataset,
                "target_labels": list(self.target_labels), "accuracy_bps": self.accuracy_bps,
                "global_rounds": self.global_rounds, "param_count": self.param_count, "train": self.train,
                "superlink": self.superlink, "proposer": self.proposer, "classes": list(self.classes),
                "input": self.input, "plugin": self.plugin}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @property
    def label_mask(self) -> int:
        return sum(1 << int(lab) for lab in set(self.target_labels))

    @classmethod
    def from_bytes(cls, raw: bytes, where: str = "description") -> Description:
        try:
            data = json.loads(raw)
            if int(data.get("format", 0)) != DESCRIPTION_FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            return cls(str(data["model"]), str(data["dataset"]), tuple(int(x) for x in data["target_labels"]),
                       int(data["accuracy_bps"]), int(data["global_rounds"]), int(data["param_count"]),
                       dict(data.get("train", {})), {k: str(v) for k, v in dict(data.get("superlink", {})).items()},
                       str(data.get("proposer", "")), tuple(str(c) for c in data.get("classes", ())),
                       dict(data.get("input", {})), {k: str(v) for k, v in dict(data.get("plugin", {})).items()})
        except (ValueError, KeyError, TypeError) as e:
            raise DocumentError(f"{where}: not a description document ({e})") from None
