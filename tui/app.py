"""The shopsync Textual app: the dashboard, the global keys, the job runner and the theme.

    ShopsyncApp(runtime=None, *, clock=None, poll=True, poll_interval=1.0,
                embedded_runner="auto", mouse=True, theme=None, read_only=False,
                demo=False, context=None, bell=False, origin="tui", ascii=None)

- `runtime`: an open engine Runtime; opened (and closed on exit) when not given.
- `clock`: returns naive UTC "now" for relative times; tests pass a frozen one.
- `poll` / `poll_interval`: live updates of every screen (off in snapshots).
- `embedded_runner`: "auto" starts a job runner in a background thread when no `shopsync serve`
  runner is alive (the header then says "embedded runner"), and looks again every 10 s so a
  serve that stops (or an embedded runner that died) is taken over; True always, False never.
- `mouse`: the default for `run(mouse=...)` (the CLI's --no-mouse).
- `theme`: a theme name; otherwise the one remembered in SHOPSYNC_HOME/tui.json. Themes chosen
  from the command palette are remembered there.
- `read_only`: look without touching: every action that would change something is unavailable
  with the reason "read-only" (keys dimmed, menu items disabled, the palette offers none) and
  no job runner is started, whatever `embedded_runner` says.
- `demo`: the header shows a DEMO badge (`shopsync demo`).
- `origin`: where the operator sits, recorded with each action in the activity log ("tui",
  or "web" under `shopsync web`).
- `ascii`: write ASCII only (badges, glyphs, borders: tui/ascii_mode.py); None decides from
  the locale (LANG=C or a non-UTF-8 charset) and SHOPSYNC_ASCII.
- `bell`: ring the terminal bell with the notification when a store turns Error or Reconnect
  required (--bell).
- `context`: what the header names as the database; None: the runtime's own (the SQLite path
  or PostgreSQL's host/name, never a password); "" names none.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.theme import Theme

from engine import actions
from engine.domain.views import StoreSummary
from engine.persistence.runtime import Runtime, open_runtime
from tui.ascii_mode import ascii_writer, wants_ascii
from tui.clock import Clock, utc_now
from tui.commands import StoreActionCommands, StoreCommands, ThemeCommands
from tui.messages import DataChanged
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen, binding_sections
from tui.screens.live import KeptConnections
from tui.store_actions import StoreActions

log = logging.getLogger("shopsync.tui")

DEFAULT_THEME = "textual-dark"
WORKER_THREADS = 32
RUNNER_CHECK_INTERVAL = 10.0  # seconds between looks at the serve runner
PREFS_FILE = "tui.json"


def load_prefs(home: Path) -> dict[str, Any]:
    """The remembered TUI preferences ({} when missing or unreadable)."""
    try:
        data = json.loads((home / PREFS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_prefs(home: Path, **changes: Any) -> None:
    prefs = load_prefs(home) | changes
    try:
        home.mkdir(parents=True, exist_ok=True)
        (home / PREFS_FILE).write_text(json.dumps(prefs, indent=2) + "\n")
    except OSError as error:  # a read-only home must not break the UI
        log.warning("cannot save TUI preferences: %s", error)


class _NoWaitExecutor(ThreadPoolExecutor):
    """The loop's default executor: quitting does not wait for thread workers, which may be
    blocked on a job or a socket (asyncio.run would otherwise join them before returning)."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


_BLOCKED_UNDER_MODAL = frozenset({"connect", "troubleshoot", "activity", "quit"})


class ShopsyncApp(StoreActions, App[None]):
    """The terminal operations console (see the module docstring for the constructor)."""

    CSS_PATH = "app.tcss"
    TITLE = "shopsync"
    COMMANDS = App.COMMANDS | {StoreCommands, StoreActionCommands, ThemeCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "connect", "Connect", id="app.connect"),
        Binding("t", "troubleshoot", "Troubleshoot", show=False, id="app.troubleshoot"),
        Binding("L", "activity", "Activity", show=False, id="app.activity"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        # Ctrl+C quits at once, even over a dialog (Textual's default only says "press ctrl+q
        # to quit"); `q` stays blocked under dialogs, where it may be typed text.
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True, system=True),
    ]

    def __init__(
        self,
        runtime: Runtime | None = None,
        *,
        clock: Clock | None = None,
        poll: bool = True,
        poll_interval: float = 1.0,
        embedded_runner: bool | Literal["auto"] = "auto",
        mouse: bool = True,
        theme: str | None = None,
        read_only: bool = False,
        demo: bool = False,
        context: str | None = None,
        bell: bool = False,
        origin: str = "tui",
        ascii: bool | None = None,
    ) -> None:
        super().__init__()
        self.ascii = wants_ascii() if ascii is None else ascii
        actions.set_origin(origin)
        self.bell_on_alert = bell
        self.read_only = read_only
        self.demo = demo
        self._owns_runtime = runtime is None
        self.runtime = runtime if runtime is not None else open_runtime()
        actions.use_runtime(self.runtime)
        self.clock: Clock = clock or utc_now
        self.poll = poll
        self.poll_interval = poll_interval
        self.embedded_runner: bool | Literal["auto"] = False if read_only else embedded_runner
        self.mouse = mouse
        self.runner: actions.Runner | None = None
        self.runner_mode = ""
        self.home = self.runtime.settings.home
        self.context = self.runtime.settings.database_label if context is None else context
        chosen = theme or load_prefs(self.home).get("theme")
        self.theme = chosen if chosen in self.available_themes else DEFAULT_THEME
        self.dashboard = DashboardScreen()
        self._gc_paused = False  # the GC is paused for the start (on_load)
        # The SQLite connections the screens' polls keep open in their threads (screens/live.py).
        self.kept_connections = KeptConnections()

    def run(self, *args: Any, mouse: bool | None = None, **kwargs: Any) -> None:
        """Run the app; `mouse` defaults to the constructor's flag."""
        return super().run(*args, mouse=self.mouse if mouse is None else mouse, **kwargs)

    def get_default_screen(self) -> Screen:
        return self.dashboard

    def on_load(self) -> None:
        self._ascii_output()
        # The start builds what lives as long as the app (widgets, their styles, the CSS rules,
        # the first screenful of stores): the cyclic GC would traverse it in some twenty
        # young collections before the first frame, and again as it ages. Paused until the
        # first frame is painted, then moved to the old generation untraversed (_resume_gc).
        if gc.isenabled():
            gc.disable()
            self._gc_paused = True

    def _resume_gc(self) -> None:
        """The first frame is painted (or the app ends): the GC runs again, and what the start
        built moves to the old generation in O(1) (gc.freeze + gc.unfreeze), where it would
        end up, as the engine's fleet read does (engine/persistence/fleet.py). With something
        else frozen (unfreeze would undo it) a generation-1 collection does instead."""
        if not self._gc_paused:
            return
        self._gc_paused = False
        gc.enable()
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        else:
            gc.collect(1)

    def _ascii_output(self) -> None:
        """In ASCII mode, every frame goes to the terminal through the ASCII translation."""
        driver = self._driver
        if self.ascii and driver is not None and not getattr(driver, "_shopsync_ascii", False):
            # Replaced on this instance only: the driver's own method stays as it is.
            vars(driver)["write"] = ascii_writer(driver.write)
            vars(driver)["_shopsync_ascii"] = True

    def on_mount(self) -> None:
        self._ascii_output()
        self.call_after_refresh(self._resume_gc)  # after the first frame
        # Thread workers run on the loop's default executor; action workers may wait for a job
        # for a while, so give them room and keep the polls from queueing behind them.
        asyncio.get_running_loop().set_default_executor(
            _NoWaitExecutor(max_workers=WORKER_THREADS, thread_name_prefix="shopsync-tui"))
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # SIGTERM (and SIGHUP: the terminal went away) end the app as `q` does, restoring
            # the terminal, rather than killing the process mid-frame.
            for signum in (signal.SIGTERM, signal.SIGHUP):
                asyncio.get_running_loop().add_signal_handler(signum, self.exit)
        self._start_runner()
        if self.embedded_runner == "auto" and self.poll:
            self.set_interval(RUNNER_CHECK_INTERVAL, self._check_runner)
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def on_unmount(self) -> None:
        self._resume_gc()
        if self.runner is not None:
            self.runner.stop(timeout=5)
            self.runner = None
        self.kept_connections.close()
        if self._owns_runtime:
            self.runtime.close()

    def _start_runner(self) -> None:
        """Run the jobs here unless `shopsync serve` does (`embedded_runner="auto"`)."""
        if self.embedded_runner is True:
            self.runner = actions.start_runner("embedded")
        elif self.embedded_runner == "auto":
            try:
                self.runner = actions.ensure_runner("embedded", unless="serve")
            except Exception as error:  # an unreadable database shows as stale on the dashboard
                log.warning("cannot check for a serve runner: %s", error)
                self.runner = actions.start_runner("embedded")
        else:
            return
        self.runner_mode = "embedded runner" if self.runner is not None else "serve runner"

    def _check_runner(self) -> None:
        self._runner_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runner-check")
    def _runner_worker(self) -> None:
        """`serve` went away (or our runner died): run the jobs here, and say so."""
        started = None
        if self.runner is None or self.runner.stopped.is_set():
            with self.runtime.db.connection_context():
                started = actions.ensure_runner("embedded", unless="serve")
        try:
            self.call_from_thread(self._runner_checked, started)
        except RuntimeError:  # the app closed meanwhile: leave no runner behind
            if started is not None:
                started.stop(timeout=5)

    def _runner_checked(self, started: actions.Runner | None) -> None:
        if started is not None:
            if self._closing:
                started.stop(timeout=5)
                return
            self.runner = started
        ours = self.runner is not None and not self.runner.stopped.is_set()
        mode = "embedded runner" if ours else "serve runner"
        if mode != self.runner_mode:
            self.runner_mode = mode
            self.dashboard.show_runner(mode)

    def _remember_theme(self, theme: Theme) -> None:
        if load_prefs(self.home).get("theme") != theme.name:
            save_prefs(self.home, theme=theme.name)

    # -- stores for the palette and other screens ---------------------------------------------

    def known_stores(self) -> list[StoreSummary]:
        """The stores the dashboard last read (no database access)."""
        return list(self.dashboard.all_stores)

    def selected_store(self, screen: Screen | None = None) -> StoreSummary | None:
        """The store a command applies to: the open store screen's, else the card's under the
        dashboard cursor."""
        screen = screen or self.screen
        store_id = getattr(screen, "store_id", None)
        if store_id is not None:
            return next((s for s in self.dashboard.all_stores if s.id == store_id), None)
        return self.dashboard.current

    def jump_to_store(self, store_id: int) -> None:
        """Back to the dashboard with the cursor on the store, then open its screen."""
        while len(self.screen_stack) > 1 and self.screen is not self.dashboard:
            self.pop_screen()
        if self.dashboard.select_store(store_id):
            store = next(s for s in self.dashboard.all_stores if s.id == store_id)
            if not store.deleting:
                self.request_action("open", store)

    def on_data_changed(self, message: DataChanged) -> None:
        """An action wrote something: every screen on the stack re-reads now."""
        for screen in self.screen_stack:
            screen.post_message(DataChanged(message.store_id))

    # -- global actions -----------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(binding_sections(self.screen)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # App-wide keys must not reach through a dialog or drawer: `q` on a focused button
        # in a confirmation, or `n` over a delete prompt, would surprise the operator.
        if action in _BLOCKED_UNDER_MODAL and isinstance(self.screen, ModalScreen):
            return False
        if action == "connect" and self.read_only:
            return None  # dimmed: the header says why (read-only)
        return True

    quitting: bool = False
    """Set as the app starts to exit: screens mount nothing new after that (a widget mounted
    while the app tears down raises from inside Textual)."""

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self.quitting = True
        super().exit(*args, **kwargs)

    def action_interrupt(self) -> None:
        self.exit()

    def action_connect(self) -> None:
        from tui.screens.connect import ConnectScreen

        if self.refuse_read_only("Connect"):
            return

        self.push_screen(ConnectScreen())

    def action_troubleshoot(self) -> None:
        from tui.screens.troubleshoot import TroubleshootScreen

        self.push_screen(TroubleshootScreen())

    def action_activity(self) -> None:
        from tui.screens.activity import ActivityScreen

        self.push_screen(ActivityScreen(store_id=None))
