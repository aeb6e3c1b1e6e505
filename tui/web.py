"""`shopsync web`: the same dashboard in a browser, served with textual-serve.

Every browser tab gets its own `shopsync tui` process (textual-serve runs one per websocket),
on the same database as the terminal console.

Safe by default:
- it listens on 127.0.0.1; any other address is refused unless the app is read-only or an
  access token is configured (SHOPSYNC_WEB_TOKEN);
- with a token, every request without it gets 401 and a small sign-in form, never the app:
  the form posts the token once and gets an HttpOnly, SameSite=Strict cookie derived from it
  (an HMAC, not the token itself); scripts may send `Authorization: Bearer TOKEN` instead. The
  token never appears in a page or a URL, and it is removed from the environment the app
  processes inherit;
- the websocket that drives the app also checks that the page asking for it came from this
  server (Origin), so another site cannot open a session in the operator's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

log = logging.getLogger("shopsync.web")

TOKEN_ENV = "SHOPSYNC_WEB_TOKEN"
COOKIE = "shopsync_web"
LOGIN_PATH = "/login"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UnsafeListen(ValueError):
    """A non-loopback address without --read-only or an access token."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, read_only: bool, token: str | None) -> None:
    """Refuse (UnsafeListen) to serve a writable console to the network without a token."""
    if not is_loopback(host) and not read_only and not token:
        raise UnsafeListen(
            f"refusing to serve the console on {host}, which is not a loopback address, without "
            f"an access token: set {TOKEN_ENV}, or add --read-only"
        )


def session_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie never carries the token."""
    return hmac.new(token.encode(), b"shopsync web session", hashlib.sha256).hexdigest()


def app_command(read_only: bool) -> str:
    """The command textual-serve runs for each browser session."""
    # A browser shows Unicode whatever the server's locale says.
    parts = [sys.executable, "-m", "tui.cli", "tui", "--origin", "web", "--unicode"]
    if read_only:
        parts.append("--read-only")
    return shlex.join(parts)


_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>shopsync · sign in</title>
<style>body{{background:#0c181f;color:#eee;font-family:monospace;display:flex;
justify-content:center;padding-top:10vh}}form{{background:#12232d;padding:2em}}
input{{font-family:monospace;padding:.4em;margin:.4em 0;width:24em}}</style></head>
<body><form method="post" action="/login">
<h1>shopsync</h1><p>This console needs its access token ({env}).</p>{problem}
<label for="token">Access token</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus><br>
<button id="sign-in" type="submit">Sign in</button></form></body></html>
"""


def login_page(problem: str = "") -> web.Response:
    shown = f'<p id="problem">{html.escape(problem)}</p>' if problem else ""
    return web.Response(status=401, content_type="text/html",
                        text=_LOGIN_PAGE.format(env=TOKEN_ENV, problem=shown),
                        headers={"Cache-Control": "no-store"})


class WebConsole(Server):
    """textual-serve's Server with the token check, the Origin check and URLs that follow the
    address the browser used (so 0.0.0.0 works)."""

    def __init__(self, *, host: str, port: int, read_only: bool, token: str | None,
                 public_url: str | None = None) -> None:
        super().__init__(app_command(read_only), host=host, port=port, title="shopsync",
                         public_url=public_url)
        self.fixed_public_url = public_url
        self.read_only = read_only
        self._session = session_value(token) if token else None
        self._token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        app.router.add_post(LOGIN_PATH, self._login)
        app.router.add_get(LOGIN_PATH, self._login_form)
        return app

    def _authorized(self, request: web.Request) -> bool:
        if self._session is None or self._token is None:
            return True
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie, self._session):
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self._token)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == LOGIN_PATH:
            return await handler(request)
        if not self._authorized(request):
            return login_page()
        if request.path == "/ws" and not _same_origin(request):
            return web.Response(status=403, text="cross-origin websocket refused")
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    async def _login_form(self, _request: web.Request) -> web.Response:
        return login_page()

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if self._session is None or self._token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given = str(form.get("token", ""))
        if not hmac.compare_digest(given.strip(), self._token):
            log.warning("web sign-in refused from %s", request.remote)
            return login_page("That is not the access token.")
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, self._session, httponly=True, samesite="Strict", path="/",
                            secure=request.secure)
        return response

    async def handle_index(self, request: web.Request) -> Any:
        # textual-serve builds the websocket URL from public_url: follow the browser's address.
        self.public_url = self.fixed_public_url or f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def on_startup(self, app: web.Application) -> None:
        access = "read-only" if self.read_only else "full access"
        guard = "access token required" if self._session else "no access token"
        print(f"shopsync web: serving the console on http://{self.host}:{self.port} "
              f"({access}, {guard}); Ctrl+C stops", file=sys.stderr, flush=True)

    def initialize_logging(self) -> None:
        logging.basicConfig(level="DEBUG" if self.debug else "INFO",
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser: the token already vouched for it
        return True
    return urlsplit(origin).netloc == request.host


def run_web(host: str, port: int, read_only: bool, public_url: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM; UnsafeListen when the address needs a token."""
    token = os.environ.pop(TOKEN_ENV, None) or None  # the app processes never see it
    check_listen(host, read_only, token)
    WebConsole(host=host, port=port, read_only=read_only, token=token,
               public_url=public_url).serve()
