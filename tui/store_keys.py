"""Store keys built from the engine's one Action definition, and why a dimmed one cannot run.

`store_binding(Action.RESYNC, "dashboard")` is the footer binding of a store action: its key and
label come from engine.domain.policy.Action, never spelled again here. A screen that mixes in
`ExplainsDisabledKeys` (and says which store its keys act on) answers a dimmed key with a
notification that says why it cannot run: a store key in the policy's words (`request_action`
gives them), any key that would change something with "read-only" under `--read-only`.
`unavailable_reason` is that reason for the help screen, the key bar and the notification alike.
"""

from __future__ import annotations

import re
from typing import Any

from textual import events
from textual.binding import Binding

from engine.actions import Action
from engine.domain.views import StoreSummary
from tui.store_actions import READ_ONLY, VIEW_ACTIONS

_STORE_ACTION = re.compile(r"^store_action\('(\w+)'\)$")

# Textual actions that change something but are not store actions (tui.store_actions): refused
# under --read-only like the store actions that are not in VIEW_ACTIONS.
CHANGING_ACTIONS = frozenset({"connect", "fix", "cancel_operation", "retry_blocked"})


def store_binding(action: Action, screen: str, *, full_label: bool = False,
                  show: bool = True) -> Binding:
    """The binding of a store action on `screen` (id `screen.action`, e.g. dashboard.resync)."""
    return Binding(action.key, f"store_action('{action.value}')",
                   action.label if full_label else action.short, show=show,
                   id=f"{screen}.{action.value}")


def store_action_of(binding_action: str) -> tuple[str, tuple[object, ...], Action] | None:
    """(textual action, parameters, Action) of a binding that runs a store action, else None."""
    match = _STORE_ACTION.match(binding_action)
    if match is not None:
        try:
            return "store_action", (match.group(1),), Action(match.group(1))
        except ValueError:
            return None
    try:
        return binding_action, (), Action(binding_action)
    except ValueError:
        return None


def changes_something(binding_action: str) -> bool:
    """Whether a binding's action would change something (refused under --read-only)."""
    parsed = store_action_of(binding_action)
    if parsed is not None:
        return parsed[2].value not in VIEW_ACTIONS
    return binding_action.split("(")[0].removeprefix("app.") in CHANGING_ACTIONS


def _key_store(screen: Any) -> StoreSummary | None:
    key_store = getattr(screen, "key_store", None)
    if key_store is not None:
        return key_store()
    selected = getattr(screen.app, "selected_store", None)
    return selected(screen) if selected is not None else None


def unavailable_reason(screen: Any, binding: Binding) -> str | None:
    """Why the (dimmed) `binding` cannot run on `screen` now: "read-only" under --read-only for
    every key that would change something, the policy's words for a store key, else None."""
    app = screen.app
    if getattr(app, "read_only", False) and changes_something(binding.action):
        return READ_ONLY
    parsed = store_action_of(binding.action)
    why_not = getattr(app, "why_not", None)
    if parsed is None or why_not is None:
        return None
    return why_not(_key_store(screen), parsed[2].value)


class ExplainsDisabledKeys:
    """Mixin for a Screen: a pressed key that `check_action` dims says why it cannot run (a
    store key in the policy's words, any changing key "read-only" under --read-only)."""

    def key_store(self) -> StoreSummary | None:
        """The store the screen's store keys act on now (default: the app's selected store)."""
        screen: Any = self
        return screen.app.selected_store(screen)

    def on_key(self, event: events.Key) -> None:
        screen: Any = self
        active = screen.active_bindings.get(event.key)
        if active is None or active.enabled:
            return  # unbound here, or it can run: the binding handles the key
        reason = unavailable_reason(screen, active.binding)
        if reason is None:
            return
        event.stop()
        event.prevent_default()
        parsed = store_action_of(active.binding.action)
        store = self.key_store()
        if parsed is not None and store is not None:
            # Refuses with the policy's reason ("… is unavailable: read-only" under --read-only).
            screen.app.request_action(parsed[2].value, store)
        else:
            label = active.binding.description or "This key"
            screen.app.notify(f"{label} is unavailable: {reason}", severity="warning",
                              markup=False)
