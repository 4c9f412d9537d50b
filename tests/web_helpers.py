"""What the web page's tests share: whether a missing tool fails or skips, the anvil and
browser fixtures' bodies, and a TCP relay that makes a node go away and come back."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRE_VARIABLES = ("CI", "HCFL_REQUIRE_BROWSER", "HCFL_REQUIRE_ANVIL")


def required() -> bool:
    """In CI (or with HCFL_REQUIRE_BROWSER / HCFL_REQUIRE_ANVIL set) a missing tool fails
    the test: a page nobody tested must not pass as skipped."""
    return any(os.environ.get(v, "").strip().lower() not in ("", "0", "false", "no") for v in REQUIRE_VARIABLES)


def unavailable(why: str) -> None:
    if required():
        pytest.fail(f"{why} (required here: one of {', '.join(REQUIRE_VARIABLES)} is set)")
    pytest.skip(why)


@contextlib.contextmanager
def anvil_node() -> Iterator[str]:
    from contracts.nodes import NodeUnavailable, start_node

    try:
        with start_node("anvil") as node:
            yield node.url
    except NodeUnavailable as exc:
        unavailable(str(exc))


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        unavailable("chromium is not installed: Debian's package `chromium`, which scripts/setup.sh installs as root")
    return found


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's headless Chromium driven by playwright (no browser download): one per module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: run scripts/setup.sh")
    exe = chromium_path()
    with sync_playwright() as p:
        # playwright gives every launch a fresh temporary user-data-dir
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Relay:
    """A TCP relay in front of a node: what a page sees of a node that stops answering
    (``stop``: the port refuses, open connections are cut) and comes back (``start``)."""

    def __init__(self, target_url: str) -> None:
        host, port = target_url.removeprefix("http://").rstrip("/").split(":")
        self.target = (host, int(port))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> Relay:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (Linux)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()
