"""Untrusted text made safe to show: no markup parsing, no control characters, no escapes.

Store names, domains, error messages and event messages come from Shopify, from webhooks or
from whoever created a store. They must reach the screen as the characters they are:

- `safe(text)` returns a string in which every ESC, C0/C1 control, DEL and other non-printable
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

import unicodedata
from functools import lru_cache

from rich.style import Style
from rich.text import Text
from textual.content import Content

__all__ = ["content", "plain", "safe"]

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
_CONTROL_PICTURES_BASE = 0x2400  # U+2400 "␀" … U+241F "␟"
_DELETE_PICTURE = "\N{SYMBOL FOR DELETE}"
_SPACES = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029")


@lru_cache(maxsize=4096)
def _replacement(char: str) -> str:
    """What one non-printable character becomes."""
    code = ord(char)
    if char in _SPACES:
        return " "
    if code < 0x20:
        return chr(_CONTROL_PICTURES_BASE + code)
    if code == 0x7F:
        return _DELETE_PICTURE
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category == "Cf":
        return ""
    return REPLACEMENT


def safe(text: object, *, multiline: bool = False) -> str:
    """`text` as a string that is safe to put on a terminal (see the module docstring).

    None becomes "". Printable text (the common case) is returned unchanged without copying.
    """
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():
        return value
    parts: list[str] = []
    for char in value:
        if char.isprintable() or (multiline and char == "\n"):
            parts.append(char)
        else:
            parts.append(_replacement(char))
    return "".join(parts)


def plain(text: object, style: str | Style = "", *, multiline: bool = False) -> Text:
    """A Rich `Text` of the safe text, with an optional style; never parsed as markup."""
    return Text(safe(text, multiline=multiline), style=style, end="")


def content(text: object, style: str = "", *, multiline: bool = False) -> Content:
    """A Textual `Content` of the safe text, with an optional style; never parsed as markup."""
    value = safe(text, multiline=multiline)
    return Content.styled(value, style) if style else Content(value)
