"""The OAuth approval panel of the Connect drawer: the authorize URL and the wait for it.

`wait(start)` shows the authorize URL as plain text on one line with no box border around it,
as an OSC 8 hyperlink (ctrl+click or cmd+click opens it in terminals that support links), with
a "Copy URL" button that puts it on the operator's own clipboard through the terminal (OSC 52,
which works over SSH), and opens it in a browser only when a display is available, and waits
in a worker (engine.actions.wait_for_oauth, as the CLI
does) until the callback arrives (`Approved(store_id)`) or fails (`Failed(reason)`, shown in
the panel).
With `simulator=True` an "Approve in simulator" button plays the merchant clicking
"Install app" (engine.actions.simulate_approval). "Start again" posts `Restart`.
"""

from __future__ import annotations

import os
import sys
import webbrowser

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, HorizontalScroll, Vertical
from textual.content import Content
from textual.message import Message
from textual.style import Style
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from engine import actions
from engine.actions import OAuthStart
from tui.host import shopsync_app
from tui.safe_text import content, safe

POLL_SECONDS = 0.5
WAITING = "Waiting for the approval on Shopify…"


def url_link(url: str) -> Content:
    """The URL as plain text that is also an OSC 8 hyperlink to itself (sanitised first: the
    URL carries the shop's domain)."""
    clean = safe(url)
    return Content(clean).stylize(Style(link=clean, underline=True))


class _Stopped(Exception):
    """The wait was cancelled (the drawer closed, or the operator started again)."""


def display_available() -> bool:
    """Whether a browser can be opened here (not over a bare SSH session)."""
    if sys.platform in ("darwin", "win32"):
        return not os.environ.get("SSH_CONNECTION")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class OAuthWait(Vertical):
    """Shows where to approve the app and waits for Shopify's callback."""

    DEFAULT_CSS = """
    OAuthWait { height: auto; border-top: hkey $primary; padding: 0 1; margin-top: 1; }
    OAuthWait #url { color: $text-accent; text-wrap: nowrap; text-overflow: clip;
                     width: auto; }
    OAuthWait #url-scroll { height: auto; max-height: 2; scrollbar-size-horizontal: 1; }
    OAuthWait #oauth-status { color: $text-muted; }
    OAuthWait #oauth-status.-error { color: $text-error; }
    OAuthWait Horizontal { height: auto; }
    OAuthWait Button { margin-right: 2; }
    """

    class Approved(Message):
        """The grant is in place: the store (new or reconnected) has this id."""

        def __init__(self, store_id: int) -> None:
            super().__init__()
            self.store_id = store_id

    class Failed(Message):
        """The approval failed (declined, expired, …); the reason is shown in the panel."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class Restart(Message):
        """The operator wants a fresh authorize URL."""

    class Waiting(Message, bubble=False):
        """From the wait's worker: still waiting (`problem`: why the database is slow)."""

        def __init__(self, problem: str | None) -> None:
            super().__init__()
            self.problem = problem

    class Outcome(Message, bubble=False):
        """From a worker: the store this grant connected, or the reason it failed."""

        def __init__(self, store_id: int | None = None, reason: str = "") -> None:
            super().__init__()
            self.store_id = store_id
            self.reason = reason

    def __init__(self, *, simulator: bool, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.simulator = simulator
        self.start: OAuthStart | None = None
        self.finished = False

    def compose(self) -> ComposeResult:
        yield Static(Content("Open this address and approve the app (ctrl+click opens it; "
                             "Copy URL puts it on your clipboard, over SSH too):"))
        with HorizontalScroll(id="url-scroll"):
            yield Static(Content(""), id="url")
        yield Static(Content(""), id="oauth-status")
        with Horizontal():
            yield Button("Approve in simulator", id="approve", variant="success", compact=True,
                         classes="-hidden")
            yield Button("Copy URL", id="copy-url", compact=True)
            yield Button("Start again", id="restart", compact=True)

    def wait(self, start: OAuthStart) -> None:
        """Show `start.url` and wait for its callback."""
        self.start, self.finished = start, False
        self.query_one("#url", Static).update(url_link(start.url))
        approve = self.query_one("#approve", Button)
        approve.set_class(not self.simulator, "-hidden")
        approve.disabled = False
        # The next step's primary button takes the focus (enter in the domain field led here).
        (approve if self.simulator else self.query_one("#copy-url", Button)).focus()
        self.status(WAITING)
        if display_available():
            self._open_browser(start.url)
        self._poll(start)

    def stop(self) -> None:
        self.finished = True
        self.workers.cancel_group(self, "oauth-wait")

    def status(self, text: str, *, error: bool = False) -> None:
        label = self.query_one("#oauth-status", Static)
        label.update(content(text))
        label.set_class(error, "-error")

    @work(thread=True, exit_on_error=False, group="oauth-browser")
    def _open_browser(self, url: str) -> None:
        try:
            webbrowser.open(url)
        except Exception:  # no usable browser: the URL is on screen
            pass

    @work(thread=True, exclusive=True, exit_on_error=False, group="oauth-wait")
    def _poll(self, start: OAuthStart) -> None:
        app = shopsync_app(self)
        worker = get_current_worker()
        shown: list[str | None] = [None]  # the database problem on screen, if any

        def tick(problem: str | None) -> None:
            if worker.is_cancelled or self.finished:
                raise _Stopped()
            if problem != shown[0]:  # keep waiting through a locked database, and say so
                shown[0] = problem
                self.post_message(self.Waiting(problem))

        try:
            with app.runtime.db.connection_context():
                summary = actions.wait_for_oauth(start, interval=POLL_SECONDS, on_tick=tick)
        except _Stopped:
            return
        except Exception as error:  # ActionError: declined, expired, a bad callback
            self.post_message(self.Outcome(reason=safe(error)))
            return
        self.post_message(self.Outcome(summary.id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="oauth-approve")
    def _approve(self, start: OAuthStart) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                summary = actions.simulate_approval(start)
        except Exception as error:  # ActionError or a network failure: show it
            self.post_message(self.Outcome(reason=safe(error)))
            return
        self.post_message(self.Outcome(summary.id))

    @on(Waiting)
    def _waiting(self, message: Waiting) -> None:
        if not self.finished:
            self.status(safe(message.problem or WAITING), error=message.problem is not None)

    @on(Outcome)
    def _outcome(self, message: Outcome) -> None:
        if self.finished:
            return
        self.stop()
        if message.store_id is not None:
            self.post_message(self.Approved(message.store_id))
            return
        reason = message.reason
        self.status(reason, error=True)
        self.query_one("#approve", Button).disabled = True
        self.post_message(self.Failed(reason))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "approve" and self.start is not None:
            event.button.disabled = True
            self._approve(self.start)
        elif event.button.id == "copy-url" and self.start is not None:
            self.app.copy_to_clipboard(safe(self.start.url))  # OSC 52: the local clipboard
            self.app.notify("Authorize URL copied to the clipboard (OSC 52)", timeout=3,
                            markup=False)
        elif event.button.id == "restart":
            self.stop()
            self.post_message(self.Restart())
