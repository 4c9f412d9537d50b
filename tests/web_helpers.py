"""What the web page's tests share: whether a missing tool fails or skips, the anvil and
browser fixtures' bodies, and an anvil that goes away and comes back with its chain."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
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


class RestartableAnvil:
    """anvil on a fixed port that keeps its chain on disk (``--state``): ``stop`` ends the
    process (it dumps its state as it exits), ``start`` runs a new one from that state at
    the same URL. What a page sees of a node that goes away and comes back."""

    def __init__(self, folder: Path) -> None:
        from contracts.nodes import NodeUnavailable, anvil_path

        try:
            self.binary = anvil_path()
        except NodeUnavailable as exc:
            unavailable(str(exc))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RestartableAnvil:
        from contracts.nodes import wait_for_rpc

        self.proc = subprocess.Popen(
            [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent",
             "--state", str(self.folder / "state.json"), "--cache-path", str(self.folder / "cache")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_rpc(self.url, timeout=30, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: anvil writes its state, then exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
