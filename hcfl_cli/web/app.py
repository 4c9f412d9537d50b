"""The web server of ``hcfl web``: a Starlette app over the watcher's rendered snapshot.

Routes (GET only): ``/`` the page, ``/update`` the parts of the page that changed since
the versions a page shows (JSON, polled by ``static/live.js``), ``/plots/NAME.svg`` the
plots, ``/static/...`` the page's own script and style sheet. Every answer carries a strict
Content-Security-Policy (scripts, styles and images from this server only, no inline
script or handler, no framing, no form), so even markup that slipped through escaping
could not run. Bound to a loopback address, the server also refuses requests whose Host is
not a loopback name (a page of another site cannot reach it by DNS rebinding).

``WebServer`` runs it with uvicorn, in the foreground (``hcfl web``) or in a thread (``hcfl
localnet --web``, the tests).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hcfl_cli.web.chain_reader import ChainReader
from hcfl_cli.web.descriptions import DescriptionCache
from hcfl_cli.web.page import Renderer
from hcfl_cli.web.plots import PLOTS
from hcfl_cli.web.watch import Expected, Watcher

STATIC = Path(__file__).parent / "static"
FIRST_LOAD_WAIT_S = 30.0
"""A first request waits this long for the watcher's first read of the chain."""
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""matplotlib's SVG carries one style element; shown as an image, an SVG runs nothing."""
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]


class SecurityHeaders:
    """ASGI middleware: the Content-Security-Policy and companions on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-security-policy"]
                svg = any(k == b"content-type" and v.startswith(b"image/svg") for k, v in headers)
                headers += [(b"content-security-policy", (SVG_CSP if svg else CSP).encode()), *SECURITY_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _version(request: Request, name: str) -> int:
    try:
        return int(request.query_params.get(name, "-1"))
    except ValueError:
        return -1


def make_app(watcher: Watcher, *, loopback_only: bool = True) -> Starlette:
    """The app serving ``watcher``'s snapshots."""

    def page(request: Request) -> Response:  # sync: Starlette runs it in a worker thread
        watcher.ready.wait(FIRST_LOAD_WAIT_S)
        return HTMLResponse(watcher.snapshot.page, headers={"cache-control": "no-store"})

    def update(request: Request) -> Response:
        body = watcher.update(_version(request, "live"), _version(request, "history"))
        return JSONResponse(body, headers={"cache-control": "no-store"})

    def plot(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PLOTS:
            return Response("no such plot", status_code=404, media_type="text/plain")
        return Response(watcher.plots.get(name), media_type="image/svg+xml", headers={"cache-control": "no-cache"})

    middleware = [Middleware(SecurityHeaders)]
    if loopback_only:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    return Starlette(routes=[Route("/", page), Route("/update", update), Route("/plots/{name}.svg", plot),
                             Mount("/static", StaticFiles(directory=STATIC), name="static")],
                     middleware=middleware)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Source:
    """Which deployment to show, and how to read it."""

    rpc: str
    address: str
    from_block: int = 0
    expected: Expected | None = None
    poll_s: float = 1.0
    allow_file_documents: bool = False


def make_watcher(src: Source, documents: Path) -> Watcher:
    """A watcher of ``src`` whose fetched description documents go to ``documents``."""
    reader = ChainReader(src.rpc, src.address, from_block=src.from_block)
    docs = DescriptionCache(documents, allow_files=src.allow_file_documents)
    return Watcher(reader, renderer=Renderer(), poll_s=src.poll_s, expected=src.expected, docs=docs)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); ``ValueError`` naming
    ``--port``/``--host`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        what = "--port" if e.errno in (98, 13) else "--host"
        raise ValueError(f"{what}: cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    return sock


class WebServer:
    """``hcfl web``'s server: the watcher, the app and uvicorn on one listening socket."""

    def __init__(self, src: Source, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self._tmp = tempfile.TemporaryDirectory(prefix="hcfl-web-")
        self.watcher = make_watcher(src, Path(self._tmp.name))
        self.sock = bind(host, port)
        bound = self.sock.getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}/"
        # Starlette's host check cannot parse an IPv6 Host header ([::1]:port): IPv4 names only
        app = make_app(self.watcher, loopback_only=is_loopback(host) and ":" not in host)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Serve in this thread until Ctrl-C (uvicorn's own signal handling)."""
        self.watcher.start()
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.close()

    def start(self) -> WebServer:
        """Serve from a daemon thread; ``close`` stops it."""
        self.watcher.start()
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="hcfl-web-server", daemon=True)
        self._thread.start()
        end = time.monotonic() + 10
        while not self.server.started and self._thread.is_alive() and time.monotonic() < end:
            time.sleep(0.02)
        return self

    def close(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.watcher.stop()
        with contextlib.suppress(OSError):
            self.sock.close()
        self._tmp.cleanup()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
