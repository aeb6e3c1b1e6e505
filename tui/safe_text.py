"""Untrusted text made safe to show: no markup parsing, no control characters, no escapes.

Store names, domains, error messages and event messages come from Shopify, from webhooks or
from whoever created a store. They must reach the screen as the characters they are:

- `safe(text)` (engine.domain.text: one sanitiser for the dashboard, the CLI and the engine's
  error summaries) returns a string in which every ESC, C0/C1 control, DEL and other non-printable
  character is replaced by a visible stand-in (C0 and DEL by their Unicode control pictures,
  e.g. ESC → "␛"; C1, surrogates, private-use and unassigned code points by "�"), invisible
  format characters (bidi overrides, zero-width spaces) are dropped, and line/paragraph breaks
  and exotic spaces become a plain space (unless `multiline=True` keeps newlines).
- `plain(text)` wraps that string in a `rich.text.Text`, which is never markup-parsed, so a store
  named ``[bold red]x[/]`` shows those very characters. `content(text)` does the same for a
  Textual `Content`.

Pass the results (never the raw string) to `Static`, `Label`, `DataTable` cells and `notify()`.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.content import Content

from engine.domain.text import REPLACEMENT, safe

__all__ = ["REPLACEMENT", "content", "plain", "safe"]


def plain(text: object, style: str | Style = "", *, multiline: bool = False) -> Text:
    """A Rich `Text` of the safe text, with an optional style; never parsed as markup."""
    return Text(safe(text, multiline=multiline), style=style, end="")


def content(text: object, style: str = "", *, multiline: bool = False) -> Content:
    """A Textual `Content` of the safe text, with an optional style; never parsed as markup."""
    value = safe(text, multiline=multiline)
    return Content.styled(value, style) if style else Content(value)
