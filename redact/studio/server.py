"""The studio's web server: Starlette on uvicorn, for one reviewer on this machine.

The page shows unredacted faces, so the server is built as if every other
program and web page on the machine were hostile:

* it binds 127.0.0.1 unless told otherwise, and warns loudly on any other address;
* every request needs the random token printed with the URL: ``/?token=...``
  once (it is then kept in a ``SameSite=Strict``, ``HttpOnly`` cookie and
  dropped from the address bar), or the ``X-Studio-Token`` header;
* a ``Host`` other than the address it listens on is refused (DNS
  rebinding: a hostile site whose name resolves to 127.0.0.1 would otherwise
  be same-origin with the studio), and so is a foreign ``Origin``;
* changes need ``POST``/``PATCH``/``DELETE`` with a JSON body, which no
  cross-site form can send;
* a strict Content-Security-Policy allows only the studio's own scripts,
  styles, images and media: no inline script, nothing from elsewhere.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import sys
import threading
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from redact.errors import RedactError
from redact.studio import api
from redact.studio.session import Session

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class Guard:
    """ASGI middleware: the Host, Origin and token checks, and the security headers on every response."""

    def __init__(self, app, token: str, host: str, port: int):
        self.app, self.token, self.port = app, token, port
        names = set(LOOPBACK) | ({host} if host not in ("0.0.0.0", "::") else set())
        self.hosts = {f"{h}:{port}" for h in names}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.cookie = f"redact_studio_{port}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)

        async def secured(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        refusal = self._refusal(request)
        if refusal is not None:
            return await refusal(scope, receive, secured)
        if request.url.path == "/" and "token" in request.query_params:
            # Trade the URL's token for a cookie, and take it out of the address bar and history.
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, secured)
        return await self.app(scope, receive, secured)

    def _refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if host not in self.hosts:
            return PlainTextResponse(f"refused: Host {host!r} is not this studio's address", status_code=403)
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.origins:
            return PlainTextResponse(f"refused: Origin {origin!r} is not this studio", status_code=403)
        given = (request.headers.get("x-studio-token") or request.cookies.get(self.cookie)
                 or (request.query_params.get("token") if request.url.path == "/" else None) or "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return PlainTextResponse("refused: missing or wrong token; open the URL `redact studio` printed",
                                     status_code=403)
        if request.method not in ("GET", "HEAD") and "application/json" not in request.headers.get("content-type", ""):
            return PlainTextResponse("refused: changes are sent as JSON", status_code=415)
        return None


def static_dir() -> Path:
    return Path(str(resources.files("redact.studio") / "static"))


def build_app(session: Session, token: str, host: str, port: int):
    """The Starlette app behind the :class:`Guard`."""

    async def index(request: Request) -> Response:
        return FileResponse(static_dir() / "index.html", headers={"cache-control": "no-store"})

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; a 404 would read as a fault in the console

    routes = [Route("/", index), Route("/favicon.ico", no_icon), *api.routes(session),
              Mount("/static", StaticFiles(directory=static_dir()))]
    errors = {RedactError: _error, ValueError: _error, KeyError: _error, TypeError: _error}
    app = Starlette(routes=routes, exception_handlers=errors)
    return Guard(app, token, host, port)


async def _error(request: Request, exc: Exception) -> Response:
    """A bad request or a refused action, said in one line for the page to show."""
    what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
    return JSONResponse({"error": what}, status_code=400)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def serve(session: Session, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          ready: threading.Event | None = None) -> None:
    """Serve until interrupted.  The first line on stdout is the URL with its token."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        for line in ("!" * 78, f"WARNING: the studio listens on {host}, not only on this machine.",
                     "It shows UNREDACTED faces to anyone who can reach this address and has the token.", "!" * 78):
            print(f"redact: {line}", file=sys.stderr)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{port}/?token={token}"
    print(url, flush=True)
    app = build_app(session, token, shown, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=5))
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
    if ready is not None:
        ready.set()
    try:
        server.run(sockets=[sock])
    finally:
        session.close()
