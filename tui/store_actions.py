"""The TUI side of engine.actions: request a store action from any screen, run it, toast it.

An "action" is one concept from the engine to the keys: engine.actions performs it, this mixin
is how the UI asks for it. `ShopsyncApp` mixes in `StoreActions`; screens call
`shopsync_app(self).request_action(action, store)` (tui.host), which does what the key press means:

    check_health   runs at once; waits for the job; "Health check completed" / "Health check failed"
    retry          retries one entity (`entity="orders"`) or every Failed entity
    resync         confirms, then queues the full re-sync; "Sync rerun started"
    disconnect     confirms with the exact DISCONNECT_CONFIRM text
    reconnect      resumes a paused store at once; a store that needs a fresh grant gets the
                   Connect drawer in reconnect mode (the same OAuth approval as a new connect,
                   or only the token field for a store connected with an access token)
    delete         DeleteConfirmScreen (record counts, the store's name typed) then the delete job
    settings       opens SettingsScreen        details   opens DetailsScreen
    bulk_operations  opens BulkScreen: the store's Shopify bulk operations (cancel, retry)
    open           opens StoreScreen

`perform_action(action, store_id, name, **kw)` runs the engine action itself, without
confirmation or screens (not `run_action`: that name is Textual's own key-binding dispatcher).
Every engine call runs in a thread worker (`exit_on_error=False`) that posts `ActionDone` back;
an ActionError's text is the toast. Confirmations are safe by default (Cancel focused, enter
never confirms a destructive action, escape cancels): see tui/screens/confirm.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from engine import actions
from engine.actions import Action, OAuthStart, wait_for_job
from engine.domain.policy import RETRY_FAILED_LABEL
from engine.domain.status import (
    DISCONNECT_CONFIRM,
    HEALTH_COMPLETED,
    HEALTH_FAILED,
    SYNC_RERUN_STARTED,
    Entity,
)
from engine.domain.views import JobView, StoreDetail, StoreSummary
from engine.persistence.reads import store_detail
from tui.messages import ActionDone, ConfirmDelete, DataChanged, ReconnectNeeded
from tui.safe_text import safe

if TYPE_CHECKING:
    from engine.persistence.runtime import Runtime

log = logging.getLogger("shopsync.tui")

HEALTH_TIMEOUT = 120.0
# What a key, the card menu or the command palette may run on a store (the Settings drawer runs
# the initial sync itself).
STORE_ACTIONS = tuple(action.value for action in Action if action is not Action.INITIAL_SYNC)
LABELS = {action.value: action.label for action in Action} | {
    "open": "Open", Action.RETRY.value: RETRY_FAILED_LABEL}


# Actions that only look: they stay available in read-only mode (the settings drawer opens
# with its switches and buttons disabled).
VIEW_ACTIONS = frozenset({"open", "details", "settings", "bulk_operations"})
READ_ONLY = "read-only"


class WaitCancelled(Exception):
    """The app is closing while a worker waits for a job."""


def health_outcome(view: JobView) -> tuple[str, str]:
    """The toast (text, severity) for a finished health job."""
    outcome = view.health
    if outcome is not None and outcome.passed:
        return HEALTH_COMPLETED, "information"
    if outcome is not None and outcome.skipped is not None:
        return f"{HEALTH_FAILED}: {safe(outcome.skipped)}", "error"
    if outcome is not None:
        failed = ", ".join(check.label for check in outcome.failed)
        return (f"{HEALTH_FAILED}: {failed}" if failed else HEALTH_FAILED), "error"
    return f"{HEALTH_FAILED}: {safe(view.error or view.state)}", "error"


class StoreActions:
    """Mixin for the App: the one place that runs store actions (see the module docstring)."""

    runtime: Runtime
    read_only: bool = False

    # -- availability -------------------------------------------------------------------------

    def why_not(self, store: StoreSummary | None, action: str,
                entity: str | None = None) -> str | None:
        """Why `action` cannot run for `store` now ("read-only", …), or None when it can.
        `entity` narrows Retry to one entity (a Troubleshoot finding's)."""
        if self.read_only and action not in VIEW_ACTIONS:
            return READ_ONLY
        if store is None:
            return "no store selected"
        if action in STORE_ACTIONS:  # engine.domain.policy: the CLI refuses with the same words
            return actions.why_cannot(store, action, entity)
        return f"{store.name} is being deleted" if store.deleting else None

    def available(self, store: StoreSummary | None, action: str,
                  entity: str | None = None) -> bool:
        """check_action's answer for a store key: True, or None (dimmed) when it cannot run."""
        return self.why_not(store, action, entity) is None

    def refuse_read_only(self, label: str) -> bool:
        """In read-only mode: say so in a toast and return True (the caller stops)."""
        if not self.read_only:
            return False
        app: Any = self
        app.notify(f"{label} is unavailable: {READ_ONLY}", severity="warning", markup=False)
        return True

    # -- entry points -------------------------------------------------------------------------

    def request_action(self, action: str, store: StoreSummary, **kw: Any) -> None:
        """Run `action` for `store` as a key press would: screens open, confirmations first."""
        app: Any = self
        if action not in VIEW_ACTIONS and self.refuse_read_only(LABELS.get(action, action)):
            return
        reason = actions.why_cannot(store, action, kw.get("entity")) \
            if action in STORE_ACTIONS else None
        if reason is not None:  # the policy's words: the CLI refuses with the same ones
            app.notify(safe(reason), title=safe(store.name), severity="warning", markup=False)
            return
        if action == "open":
            from tui.screens.store import StoreScreen

            app.push_screen(StoreScreen(store.id, store))
        elif action == "bulk_operations":
            from tui.screens.bulk import BulkScreen

            app.push_screen(BulkScreen(store.id, store.name))
        elif action == "details":
            from tui.screens.details import DetailsScreen

            app.push_screen(DetailsScreen(store.id))
        elif action == "settings":
            from tui.screens.settings import SettingsScreen

            app.push_screen(SettingsScreen(store.id))
        elif action == "disconnect":
            self._confirm(store, "disconnect", f"Disconnect {safe(store.name)}?",
                          DISCONNECT_CONFIRM, "Disconnect", destructive=True)
        elif action == "resync":
            self._confirm(
                store, "resync", f"Re-sync {safe(store.name)}?",
                "Re-run the full import of every enabled entity, one after another. It is safe "
                "to repeat: records match by Shopify ID, so nothing is duplicated.", "Re-sync")
        elif action == "delete":
            self._load_detail_for_delete(store.id)
        else:
            self.perform_action(action, store.id, store.name, **kw)

    def _confirm(self, store: StoreSummary, action: str, title: str, message: str,
                 label: str, *, destructive: bool = False) -> None:
        from tui.screens.confirm import ConfirmScreen

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.perform_action(action, store.id, store.name)

        app: Any = self
        app.push_screen(ConfirmScreen(title, message, label, destructive=destructive), done)

    def confirm_delete(self, detail: StoreDetail) -> None:
        """Show the destructive delete confirmation for `detail`, then delete on confirm."""
        from tui.screens.confirm import DeleteConfirmScreen

        summary = detail.summary

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.perform_action("delete", summary.id, summary.name)

        app: Any = self
        app.push_screen(DeleteConfirmScreen(detail), done)

    # -- workers ------------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="store-actions")
    def _load_detail_for_delete(self, store_id: int) -> None:
        app: Any = self
        try:
            with self.runtime.db.connection_context():
                detail = store_detail(store_id)
        except Exception as error:  # the store vanished or the database is unreadable
            app.post_message(ActionDone("delete", store_id, safe(error), "error"))
            return
        app.post_message(ConfirmDelete(detail))

    @work(thread=True, exit_on_error=False, group="store-actions")
    def perform_action(self, action: str, store_id: int, name: str = "", **kw: Any) -> None:
        """Run one engine action now (no confirmation) and report it with a toast."""
        app: Any = self
        if self.read_only:  # every path to a write ends here: the last line of defence
            app.post_message(ActionDone(action, store_id, f"{LABELS.get(action, action)} is "
                                        f"unavailable: {READ_ONLY}", "warning"))
            return
        worker = get_current_worker()
        title = safe(name)
        try:
            with self.runtime.db.connection_context():
                text, severity = self._perform(
                    action, store_id, lambda: worker.is_cancelled, **kw)
        except actions.ActionError as error:
            text, severity = safe(error), "error"
        except WaitCancelled:
            return
        except Exception as error:  # report it, never crash the app
            log.exception("action %s failed", action)
            text, severity = f"{LABELS.get(action, action)} failed: {safe(error)}", "error"
        app.post_message(DataChanged(store_id))
        if text:
            app.post_message(ActionDone(action, store_id, f"{title}\n{text}" if title
                                           else text, severity))

    def _perform(self, action: str, store_id: int, cancelled: Callable[[], bool],
                 **kw: Any) -> tuple[str, str]:
        """Call the engine (in a worker thread); the toast text and severity."""
        app: Any = self
        if action == "check_health":
            job = actions.check_health(store_id)
            app.post_message(DataChanged(store_id))  # the card shows "Checking…" at once

            def progress(_view: JobView) -> None:
                if cancelled():
                    raise WaitCancelled()

            try:
                view = wait_for_job(job.id, timeout=HEALTH_TIMEOUT, on_progress=progress)
            except TimeoutError:
                return "The health check is still queued: is a job runner running?", "warning"
            return health_outcome(view)
        if action == "retry":
            entity = kw.get("entity")
            if entity:
                actions.retry(store_id, entity)
                return f"Retry started: {Entity(entity).label}", "information"
            views = actions.retry_failed(store_id)
            labels = ", ".join(Entity(v.entity).label for v in views if v.entity)
            return f"Retry started: {labels}", "information"
        if action == "resync":
            actions.resync(store_id)
            return SYNC_RERUN_STARTED, "information"
        if action == "disconnect":
            actions.disconnect(store_id)
            return "Disconnected: data kept, syncs and webhooks paused", "information"
        if action == "reconnect":
            try:
                outcome = actions.reconnect(store_id)
            except actions.NotAllowed:
                detail = store_detail(store_id)
                if detail.auth_method != "token" or detail.summary.deleting:
                    raise
                # A token store that needs a fresh grant: the Connect drawer takes a new token.
                app.post_message(ReconnectNeeded(store_id, detail.summary.domain, None))
                return "", "information"
            if isinstance(outcome, OAuthStart):
                app.post_message(ReconnectNeeded(store_id, outcome.domain, outcome))
                return "", "information"
            return "Reconnected: syncs and webhooks resume", "information"
        if action == "register_webhooks":
            actions.register_webhooks(store_id)
            return "Webhook subscriptions check started", "information"
        if action == "delete":
            actions.delete(store_id)
            return "Deleting… the card disappears when cleanup finishes", "information"
        raise actions.InvalidInput(f"unknown action {action!r}")

    def approve_reconnect(self, store_id: int, start: OAuthStart) -> None:
        """A fresh grant is needed: the Connect drawer runs the OAuth approval for this store."""
        from tui.screens.connect import ConnectScreen

        app: Any = self
        app.push_screen(ConnectScreen(reconnect=start, store_id=store_id))

    def reconnect_with_token(self, store_id: int, domain: str) -> None:
        """A store connected with an access token needs a new one: the Connect drawer asks."""
        from tui.screens.connect import ConnectScreen

        app: Any = self
        app.push_screen(ConnectScreen(token_for=domain, store_id=store_id))

    def on_confirm_delete(self, message: ConfirmDelete) -> None:
        self.confirm_delete(message.detail)

    def on_reconnect_needed(self, message: ReconnectNeeded) -> None:
        if message.start is not None:
            self.approve_reconnect(message.store_id, message.start)
        else:
            self.reconnect_with_token(message.store_id, message.domain)

    # -- results ------------------------------------------------------------------------------

    def on_action_done(self, message: ActionDone) -> None:
        app: Any = self
        title, _, text = message.message.partition("\n")
        if not text:
            title, text = "", title
        app.notify(text, title=title, severity=message.severity, markup=False,
                   timeout=8 if message.severity == "error" else 4)
