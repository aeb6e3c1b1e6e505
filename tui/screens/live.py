"""Live data for every screen that shows the database: the dashboard, the store screen, the
drawers, Troubleshoot and Activity.

A one-shot timer starts a thread worker that reads `data_version()` and, only when it changed
(or a refresh is forced), calls the screen's `load()` in that thread; the worker posts
`Live.Loaded` and the handler re-arms the timer. Polling stops while another screen is on top
(the app's `screen is not self`: no timer runs, since any message a covered screen handles
makes Textual repaint the whole top screen) and re-reads when the screen resumes; it is off
when the app was built with `poll=False` (snapshots), and never spends more than about a third
of a core on reads (the next poll waits at least READ_BACKOFF times the last read: a
10,000-store fleet read costs real time). An older, slower read never replaces a newer one on
screen. A database that cannot be read leaves the last data on screen and sets the `stale`
reactive (the screen shows `stale_marker`); polls then read in full until one succeeds, and
only that clears it. `DataChanged` (an action just wrote) forces a re-read at once.

On SQLite a poll's thread keeps its connection open for its next poll (`poll_connection`):
opening one reads the whole schema, about 5 ms of CPU, which at one poll a second was a
quarter of an idle dashboard's CPU. The app closes the connections kept for it when it ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from peewee import SqliteDatabase
from textual import work
from textual.content import Content
from textual.message import Message
from textual.reactive import var
from textual.timer import Timer
from textual.worker import get_current_worker

from engine.persistence.reads import data_version
from tui.clock import utc_now
from tui.messages import DataChanged
from tui.safe_text import content

UNCHANGED = object()  # what `read_changes` returns when there is nothing new to show
READ_BACKOFF = 3.0  # the next poll waits at least this many times the last full read
TIMES_EVERY = 15  # unchanged polls between re-renders of relative times ("3 min ago")


_kept = threading.local()  # per thread: the connection a poll kept open, its lock, its owner


class KeptConnections:
    """The SQLite connections an app's polls keep open in their threads.

    A poll uses its connection holding that connection's lock; `close()` (the app ending, on
    the UI thread) interrupts what a poll is running and closes each connection under its lock.
    Closing a sqlite3 connection while another thread is inside it frees what that thread is
    using: the process segfaults (seen when a test's app ended mid-poll)."""

    def __init__(self) -> None:
        self._items: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._guard = threading.Lock()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def connections(self) -> list[sqlite3.Connection]:
        with self._guard:
            return [connection for connection, _lock in self._items]

    def add(self, connection: sqlite3.Connection) -> threading.Lock:
        lock = threading.Lock()
        with self._guard:
            self._items.append((connection, lock))
        return lock

    def close(self) -> None:
        """Close every kept connection, waiting for (and interrupting) a poll inside one."""
        with self._guard:
            self.closed = True
            items, self._items = self._items, []
        for connection, lock in items:
            with contextlib.suppress(sqlite3.Error):
                connection.interrupt()  # safe from any thread: the poll's query ends early
            with lock:
                connection.close()


@contextmanager
def poll_connection(app: Any) -> Iterator[None]:
    """A database connection for a poll, in the worker's thread. On SQLite (when the app keeps
    `kept_connections`) it stays open for the thread's next poll, and the app closes it as it
    ends (KeptConnections); a poll that fails closes it, so the next one starts afresh.
    Otherwise, and on PostgreSQL, a connection for this poll only (`connection_context`)."""
    db = app.runtime.db
    kept: KeptConnections | None = getattr(app, "kept_connections", None)
    if kept is None or not isinstance(db, SqliteDatabase):
        with db.connection_context():
            yield
        return
    if not db.is_closed() and getattr(_kept, "conn", None) is db.connection() \
            and getattr(_kept, "owner", None) is not kept:
        db.close()  # kept for an app that has ended (and closed it): not this app's
    if db.is_closed():
        db.connect()
        _kept.conn, _kept.owner = db.connection(), kept
        _kept.lock = kept.add(_kept.conn)
    with _kept.lock:
        if kept.closed:
            raise RuntimeError("the app has ended")  # its connections are closed
        try:
            yield
        except Exception:
            if not db.is_closed():
                db.close()
            raise


def stale_marker(reason: str) -> Content:
    """"  ⚠ stale: <why>", appended to a screen's title while its data cannot be re-read."""
    return Content("  ") + content(f"⚠ stale: {reason}", "bold $text-error")


class Live:
    """Mixin for a Screen: `load()` (thread) → `show(data)` (UI), re-read when data changes."""

    class Loaded(Message):
        """`load()` ran because the database changed; `data` is what it returned."""

        def __init__(self, data: Any, *, fresh: bool = True, seq: int = 0) -> None:
            super().__init__()
            self.data = data
            self.fresh = fresh  # False: the database is unchanged and `data` is None
            self.seq = seq  # which poll read it

    class Stale(Message):
        """The database could not be read; the screen keeps its last data."""

        def __init__(self, reason: str, *, seq: int = 0) -> None:
            super().__init__()
            self.reason = reason
            self.seq = seq  # which poll failed

    stale: var[str | None] = var(None, init=False)
    """Why the data on screen may be out of date (the database cannot be read), or None."""

    _live_version: object = None
    _live_pending_version: object = None  # the version of the read in flight
    _live_timer: Timer | None = None
    _live_ticks: int = 0
    _live_started: int = 0  # polls started
    _live_applied: int = 0  # the newest poll whose data is on screen
    _live_read_seconds: float = 0.0  # how long the last full `load()` took
    live_loaded: bool = False

    # -- what a screen provides ---------------------------------------------------------------

    def load(self) -> Any:
        """Read what the screen shows (runs in a thread worker, inside a DB connection)."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put freshly loaded data on screen (runs on the UI thread)."""
        raise NotImplementedError

    def tick(self) -> None:
        """Every TIMES_EVERY polls that found nothing new: relative times may re-render."""

    # -- the loop -----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        screen: Any = self
        clock = getattr(screen.app, "clock", None)
        return clock() if clock else utc_now()

    def start_live(self) -> None:
        self.refresh_now(force=True)

    def refresh_now(self, force: bool = True) -> None:
        """Read the database now (in a worker); `force` re-reads even if unchanged."""
        if self._live_timer is not None:
            self._live_timer.stop()
            self._live_timer = None
        self._live_started += 1
        self._live_poll(force, self._live_started)

    def _live_arm(self) -> None:
        screen: Any = self
        if self._live_timer is not None:  # one timer at a time
            self._live_timer.stop()
            self._live_timer = None
        if getattr(screen.app, "poll", True) and screen.is_attached:
            interval = getattr(screen.app, "poll_interval", 1.0)
            delay = max(interval, READ_BACKOFF * self._live_read_seconds)
            armed = self._live_started
            self._live_timer = screen.set_timer(delay, lambda: self._live_tick(armed))

    def _live_tick(self, armed: int | None = None) -> None:
        """The poll timer fired (`armed`: the polls started when it was set)."""
        if armed is not None and armed != self._live_started:
            # A poll started since this timer was armed (a refresh forced after the timer had
            # fired, its callback still queued): that poll's answer arms the next timer. A
            # tick now would start an unforced poll that cancels the forced one, perhaps
            # before it ran, and an unchanged database would then never be read again.
            return
        self._live_timer = None
        screen: Any = self
        if screen.app.screen is not screen:
            # A modal or another screen is on top: stop until it resumes (on_screen_resume
            # re-reads). No timer either: Textual repaints the whole top screen whenever the
            # screen under it handles a message, so a covered screen that woke every poll
            # would resend the screen over the terminal every second.
            return
        self._live_started += 1
        # After a failed read the screen's data is stale whatever the version says: read in full.
        self._live_poll(screen.stale is not None, self._live_started)

    def read_changes(self, force: bool, seq: int) -> Any:
        """What a poll reads (in the worker thread): `load()` when the database changed since
        the last read (or `force`), else UNCHANGED. A screen that can read just what changed
        overrides this (the dashboard does); `seq` is the poll's, for early partial results."""
        version = data_version()
        if version == self._live_version and not force:
            return UNCHANGED
        data = self.load()
        self._live_pending_version = version
        return data

    @work(thread=True, exclusive=True, exit_on_error=False, group="screen-poll")
    def _live_poll(self, force: bool, seq: int) -> None:
        screen: Any = self
        try:
            with poll_connection(screen.app):
                started = time.monotonic()
                data = self.read_changes(force, seq)
                if data is UNCHANGED:
                    screen.post_message(self.Loaded(None, fresh=False, seq=seq))
                    return
                self._live_read_seconds = time.monotonic() - started
        except Exception as error:  # the database is locked, gone or corrupt
            screen.post_message(self.Stale(f"{type(error).__name__}: {error}", seq=seq))
            return
        if get_current_worker().is_cancelled:  # a newer read (forced refresh) replaced this one
            return
        self._live_version = self._live_pending_version
        screen.post_message(self.Loaded(data, seq=seq))

    def on_live_loaded(self, message: Live.Loaded) -> None:
        message.stop()
        if message.fresh and message.seq < self._live_applied:
            return  # a slower, older read: its data is out of date
        screen: Any = self  # a reactive is set on the Screen this class is mixed into
        if not message.fresh:
            # Nothing changed since the last read, but only a full read clears `stale`.
            self._live_ticks += 1
            if self._live_ticks % TIMES_EVERY == 0 and self.live_loaded:
                self.tick()
        else:
            screen.stale = None
            self._live_applied = message.seq
            self.live_loaded = True
            self.show(message.data)
        self._live_rearm(message.seq)

    def on_live_stale(self, message: Live.Stale) -> None:
        message.stop()
        screen: Any = self  # a reactive is set on the Screen this class is mixed into
        screen.stale = message.reason
        self._live_rearm(message.seq)

    def _live_rearm(self, seq: int) -> None:
        """After poll `seq` answered: the next poll, unless a newer one is already reading (a
        forced refresh while this one read), whose answer arms it: a timer armed now would
        start a poll that cancels that newer one, perhaps before it ran."""
        if seq >= self._live_started:
            self._live_arm()

    def on_data_changed(self, message: DataChanged) -> None:
        message.stop()
        self.refresh_now(force=True)

    def on_screen_resume(self) -> None:
        if self.live_loaded and self._live_started:
            self.refresh_now(force=True)
        # (Data on screen before any poll started, as the dashboard's first screenful read
        # before its first frame: the screen's `start_live` reads, once.)
        elif self._live_timer is None:
            self._live_arm()  # the first read has not succeeded yet: keep trying
