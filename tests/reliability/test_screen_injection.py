"""Terminal injection through the dashboard: no screen hands a store's hostile text to the terminal.

A store name, a Shopify error body, a status detail or an activity message can hold an OSC 0
(window title), OSC 52 (clipboard write), BEL, an 8-bit CSI or a bidi override. Every screen is
opened over such a store and every byte the app writes to its terminal is checked: Textual's own
escape sequences are there, the hostile ones never are.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.domain.policy import Action
from engine.domain.status import Entity, EntityState
from engine.persistence.models import Store
from tests.tui.factories import add_event, make_store
from tests.tui.screen_helpers import go_to, settle, terminal_writes

PAYLOAD = ("Pwn\x1b]0;TITLE\x07 \x1b]52;c;Q0xJUA==\x07 \x9b31mred \u202eevil "
           "\x1b[2J\x1b]8;;http://x.invalid\x1b\\link\x1b]8;;\x1b\\")
# What must never reach the terminal raw (Textual writes CSI sequences of its own, so the
# checks name the hostile ones).
FORBIDDEN = ("\x1b]0;", "\x1b]52;", "\x07", "\x9b", "\u202e", "\x1b[2J", "\x1b]8;;http")


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Everything the app writes to its (headless) terminal."""
    return terminal_writes(monkeypatch, str)


@pytest.fixture
def hostile_store(offline_runtime: Any) -> Store:
    store = make_store("hostile.myshopify.com", PAYLOAD,
                       states={Entity.CUSTOMERS: EntityState.FAILED},
                       errors={Entity.CUSTOMERS: PAYLOAD}, health_ok=False)
    Store.update(plan=PAYLOAD, email=PAYLOAD, status_detail=PAYLOAD, country=PAYLOAD,
                 ).where(Store.id == store.id).execute()
    add_event(store, PAYLOAD, level="error")
    return store


def _assert_clean(screen: str, chunks: list[str]) -> None:
    # Textual's own OSC 22 (the mouse pointer's shape) ends with a BEL: set it aside.
    output = re.sub(r"\x1b\]22;[a-z-]*\x07", "", "".join(chunks))
    assert output, f"{screen}: nothing was drawn"
    for sequence in FORBIDDEN:
        at = output.find(sequence)
        near = output[max(0, at - 80):at + 40]
        assert at < 0, f"{screen}: {sequence!r} reached the terminal: {near!r}"


# (what to open, the keys that open it from the dashboard with the store selected)
SCREENS = [
    ("dashboard cards", ()),
    ("dashboard table", ("v",)),
    ("store screen", ("enter",)),
    ("details", (Action.DETAILS.key,)),
    ("settings", (Action.SETTINGS.key,)),
    ("card menu", ("m",)),
    ("delete confirmation", (Action.DELETE.key,)),
    ("troubleshoot", ("t",)),
    ("activity", ("L",)),
    ("help", ("question_mark",)),
]


@pytest.mark.parametrize(("screen", "keys"), SCREENS, ids=[s for s, _k in SCREENS])
async def test_no_screen_writes_hostile_text_raw(
    make_app: Any, hostile_store: Store, written: list[str], screen: str, keys: tuple[str, ...],
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await go_to(pilot, PAYLOAD)
        written.clear()
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        app.screen.refresh(repaint=True)
        await settle(pilot)
        _assert_clean(screen, written)
        if screen != "help":  # the hostile text is on screen, made inert (␛ for ESC)
            assert "Pwn␛]0;TITLE" in "".join(written), screen
