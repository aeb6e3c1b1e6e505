"""Store keys built from the engine's one Action definition, and why a dimmed one cannot run.

`store_binding(Action.RESYNC, "dashboard")` is the footer binding of a store action: its key and
label come from engine.domain.policy.Action, never spelled again here. A screen that mixes in
`ExplainsDisabledKeys` (and says which store its keys act on) answers a dimmed store key with a
notification that says why it cannot run, in the policy's words (`app.operate` gives it).
"""

from __future__ import annotations

import re
from typing import Any

from textual import events
from textual.binding import Binding

from engine.actions import Action
from engine.domain.views import StoreSummary

_STORE_ACTION = re.compile(r"^store_action\('(\w+)'\)$")


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


class ExplainsDisabledKeys:
    """Mixin for a Screen: a pressed store key that `check_action` dims says why it cannot run."""

    def key_store(self) -> StoreSummary | None:
        """The store the screen's store keys act on now."""
        raise NotImplementedError

    def on_key(self, event: events.Key) -> None:
        screen: Any = self
        for binding in screen._bindings.key_to_bindings.get(event.key, ()):
            parsed = store_action_of(binding.action)
            if parsed is None:
                continue
            name, parameters, action = parsed
            if screen.check_action(name, parameters) is not None:
                return  # it can run: the binding handles the key
            store = self.key_store()
            event.stop()
            event.prevent_default()
            if store is not None:
                screen.app.request_action(action.value, store)  # refuses with the policy's reason
            return
