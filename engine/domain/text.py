"""Untrusted text made safe for a terminal: the one sanitiser of every surface.

Store names, domains, error messages and Shopify's error bodies come from outside. `safe(text)`
returns a string in which every ESC, C0/C1 control, DEL and other non-printable character is
replaced by a visible stand-in (C0 and DEL by their Unicode control pictures, e.g. ESC → "␛";
C1, surrogates, private-use and unassigned code points by "�"), invisible format characters
(bidi overrides, zero-width spaces) are dropped, and line/paragraph breaks and exotic spaces
become a plain space (unless `multiline=True` keeps newlines). An OSC 0/52 or CSI sequence thus
reaches the screen as inert characters: it cannot retitle the terminal or write the clipboard.

The dashboard (tui.safe_text), the CLI (tui.cli_output) and the Shopify client's error summaries
(engine.shopify.client.body_summary) all use this function.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["REPLACEMENT", "safe"]

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
