"""Live data for the store, drawer, troubleshoot and activity screens.

The same loop as the dashboard: a one-shot timer starts a thread worker that reads
`data_version()` and, only when it changed (or a refresh is forced), calls the screen's
`load()` in that thread; the worker posts `Live.Loaded` and the handler re-arms the timer.
Polling pauses while another screen is on top (the app's `screen is not self`), stops when
the app was built with `poll=False` (snapshots), and a database that cannot be read leaves the
last data on screen and posts `Live.Stale` (the screen shows a stale marker).
`DataChanged` (an action just wrote) forces a re-read at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import work
from textual.message import Message
from textual.timer import Timer
from textual.worker import get_current_worker

from engine.persistence.reads import data_version
from tui.clock import utc_now
from tui.messages import DataChanged


class Live:
    """Mixin for a Screen: `load()` (thread) → `show(data)` (UI), re-read when data changes."""

    class Loaded(Message):
        """`load()` ran because the database changed; `data` is what it returned."""

        def __init__(self, data: Any, *, fresh: bool = True) -> None:
            super().__init__()
            self.data = data
            self.fresh = fresh  # False: the database is unchanged and `data` is None

    class Stale(Message):
        """The database could not be read; the screen keeps its last data."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    _live_version: object = None
    _live_timer: Timer | None = None
    _live_ticks: int = 0
    live_loaded: bool = False

    # -- what a screen provides ---------------------------------------------------------------

    def load(self) -> Any:
        """Read what the screen shows (runs in a thread worker, inside a DB connection)."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put freshly loaded data on screen (runs on the UI thread)."""
        raise NotImplementedError

    def show_stale(self, reason: str | None) -> None:
        """Mark the data stale (reason) or fresh (None); screens override to show it."""

    def tick(self) -> None:
        """Called on polls that found nothing new (relative times may re-render)."""

    # -- the loop -----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        screen: Any = self
        clock = getattr(screen.app, "clock", None)
        return clock() if clock else utc_now()

    def start_live(self) -> None:
        self.refresh_now(force=True)

    def refresh_now(self, force: bool = True) -> None:
        if self._live_timer is not None:
            self._live_timer.stop()
            self._live_timer = None
        self._live_poll(force)

    def _live_arm(self) -> None:
        screen: Any = self
        if self._live_timer is not None:  # one timer at a time
            self._live_timer.stop()
            self._live_timer = None
        if getattr(screen.app, "poll", True) and screen.is_attached:
            interval = getattr(screen.app, "poll_interval", 1.0)
            self._live_timer = screen.set_timer(interval, self._live_tick)

    def _live_tick(self) -> None:
        self._live_timer = None
        screen: Any = self
        if screen.app.screen is not screen:  # a modal or another screen is on top: pause
            self._live_arm()
            return
        self._live_poll(False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="screen-poll")
    def _live_poll(self, force: bool) -> None:
        screen: Any = self
        try:
            with screen.app.runtime.db.connection_context():
                version = data_version()
                if version == self._live_version and not force:
                    screen.post_message(self.Loaded(None, fresh=False))
                    return
                data = self.load()
        except Exception as error:  # the database is locked, gone or corrupt
            screen.post_message(self.Stale(f"{type(error).__name__}: {error}"))
            return
        if get_current_worker().is_cancelled:  # a newer read (forced refresh) replaced this one
            return
        self._live_version = version
        screen.post_message(self.Loaded(data))

    def on_live_loaded(self, message: Live.Loaded) -> None:
        message.stop()
        self.show_stale(None)
        if not message.fresh:
            self._live_ticks += 1
            self.tick()
        else:
            self.live_loaded = True
            self.show(message.data)
        self._live_arm()

    def on_live_stale(self, message: Live.Stale) -> None:
        message.stop()
        self.show_stale(message.reason)
        self._live_arm()

    def on_data_changed(self, message: DataChanged) -> None:
        message.stop()
        self.refresh_now(force=True)

    def on_screen_resume(self) -> None:
        if self.live_loaded:
            self.refresh_now(force=True)
