"""Command palette (ctrl+p) providers: jump to a store, act on the selected store, pick a theme.

Store names are untrusted, and the palette parses plain-string prompts as markup, so every
prompt here is a `Content` built from safe text (Content prompts are shown as they are).
Providers read the stores the dashboard already holds: the palette never touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from engine.domain.views import StoreSummary
from tui.safe_text import safe
from tui.store_actions import LABELS, READ_ONLY, STORE_ACTIONS

TERMINAL_THEMES = ("ansi-dark", "ansi-light")


def _display(prefix: str, text: str, matcher: Matcher | None) -> Content:
    """`prefix` + safe `text`, with the fuzzy-matched characters highlighted."""
    line = f"{prefix}{safe(text)}"
    display = Content(line)
    if matcher is None:
        return display
    _score, offsets = matcher.fuzzy_search.match(matcher.query, line)
    for offset in offsets:
        if not line[offset].isspace():
            display = display.stylize(matcher.match_style, offset, offset + 1)
    return display


async def _search(
    provider: Provider, query: str, entries: Iterable[tuple[str, str, Callable[[], Any], str]]
) -> Hits:
    matcher = provider.matcher(query)
    for prefix, text, callback, help_text in entries:
        score = matcher.match(f"{prefix}{safe(text)}")
        if score > 0:
            yield Hit(score, _display(prefix, text, matcher), callback,
                      text=f"{prefix}{safe(text)}", help=help_text)


class StoreCommands(Provider):
    """"Open store: …" for every store: jumps to its card and opens the store screen."""

    def _entries(self) -> list[tuple[str, str, Callable[[], Any], str]]:
        app: Any = self.app
        return [
            ("Open store: ", f"{store.name} ({store.domain})",
             partial(app.jump_to_store, store.id), "Select its card and open the store")
            for store in app.known_stores()
        ]

    async def discover(self) -> Hits:
        for prefix, text, callback, help_text in self._entries()[:20]:
            yield DiscoveryHit(_display(prefix, text, None), callback,
                               text=f"{prefix}{safe(text)}", help=help_text)

    async def search(self, query: str) -> Hits:
        async for hit in _search(self, query, self._entries()):
            yield hit


class StoreActionCommands(Provider):
    """The store actions that can run now for the selected store (the card under the cursor,
    or the store whose screen is open). Under --read-only the ones that would change something
    are listed too, saying "unavailable: read-only"; choosing one says so again in a toast."""

    def _store(self) -> StoreSummary | None:
        app: Any = self.app
        return app.selected_store(self.screen)

    def _entries(self) -> list[tuple[str, str, Callable[[], Any], str]]:
        store = self._store()
        if store is None:
            return []
        app: Any = self.app
        entries: list[tuple[str, str, Callable[[], Any], str]] = []
        for action in STORE_ACTIONS:
            reason = app.why_not(store, action)
            if reason is None:
                help_text = "Run it for the selected store"
            elif reason == READ_ONLY:
                help_text = f"Unavailable: {READ_ONLY}"
            else:
                continue
            entries.append((f"{LABELS[action]}: ", store.name,
                            partial(app.request_action, action, store), help_text))
        return entries

    async def discover(self) -> Hits:
        for prefix, text, callback, help_text in self._entries():
            yield DiscoveryHit(_display(prefix, text, None), callback,
                               text=f"{prefix}{safe(text)}", help=help_text)

    async def search(self, query: str) -> Hits:
        async for hit in _search(self, query, self._entries()):
            yield hit


class ThemeCommands(Provider):
    """"Theme: …" for every theme; the ANSI ones follow the terminal's own colours. The choice
    is remembered (SHOPSYNC_HOME/tui.json)."""

    def _entries(self) -> list[tuple[str, str, Callable[[], Any], str]]:
        app: Any = self.app
        names = sorted(app.available_themes, key=lambda n: (n not in TERMINAL_THEMES, n))
        return [
            ("Theme: ", name, partial(setattr, app, "theme", name),
             "Follows the terminal's colours" if name in TERMINAL_THEMES else "Switch theme")
            for name in names
        ]

    async def discover(self) -> Hits:
        for prefix, text, callback, help_text in self._entries()[:len(TERMINAL_THEMES)]:
            yield DiscoveryHit(_display(prefix, text, None), callback,
                               text=f"{prefix}{text}", help=help_text)

    async def search(self, query: str) -> Hits:
        async for hit in _search(self, query, self._entries()):
            yield hit
