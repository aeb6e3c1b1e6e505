"""ASCII rendering for terminals that cannot show Unicode (LANG=C, a Latin-1 locale, an old
serial console): badges, glyphs, borders and text are written as ASCII.

The translation happens on the way out, where Textual hands the finished frame to its driver,
so every glyph on every screen is covered, Textual's own borders and scrollbars included, and
no widget needs an ASCII twin. Each character keeps its cell width (a box corner becomes "+", a
wide CJK character "??"), so layouts stay aligned. Escape sequences are ASCII already and pass
through untouched.

    ● Connected → * Connected     ✖ Error → x Error     ▲ Reconnect required → ^ Reconnect …
    ✔ synced → + synced           ◌ pending → . pending   ↻ syncing → ~ syncing
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache

GLYPHS: dict[str, str] = {
    "●": "*", "○": "o", "✖": "x", "▲": "^", "✔": "+", "◌": ".", "↻": "~", "–": "-",
    "—": "-", "…": "~", "›": ">", "‹": "<", "⚠": "!", "▶": ">", "◀": "<", "⏎": "<", "·": ".",
    "↑": "^", "↓": "v", "←": "<", "→": ">", "⌃": "^", "✓": "+", "✗": "x", "•": "*",
    "“": '"', "”": '"', "‘": "'", "’": "'", "×": "x", "≥": ">", "≤": "<", "\u00a0": " ",
    "▔": "-", "▁": "-", "█": "#", "▀": "-", "▄": "-", "▌": "|", "▐": "|", "▏": "|", "▎": "|",
    "▍": "|", "▋": "|", "▊": "|", "▉": "|", "▕": "|", "▂": " ", "▃": " ", "▅": " ", "▆": " ",
    "▇": " ", "░": ":", "▒": ":", "▓": "#", "■": "#", "□": "o", "▪": "*", "▫": ".",
}


@lru_cache(maxsize=4096)
def ascii_char(char: str) -> str:
    """One character as ASCII of the same cell width."""
    if char.isascii():
        return char
    if char in GLYPHS:
        return GLYPHS[char]
    code = ord(char)
    if 0x2500 <= code <= 0x257F:  # box drawing
        name = unicodedata.name(char, "")
        if "HORIZONTAL" in name and "VERTICAL" not in name:
            return "-"
        if "VERTICAL" in name and "HORIZONTAL" not in name:
            return "|"
        return "+"
    if unicodedata.combining(char):
        return ""
    base = unicodedata.normalize("NFKD", char)[:1]
    if base.isascii() and base.isprintable():
        return base  # é → e, ü → u
    return "??" if unicodedata.east_asian_width(char) in ("W", "F") else "?"


def to_ascii(text: str) -> str:
    """`text` with every non-ASCII character replaced (see ascii_char)."""
    if text.isascii():
        return text
    return "".join(ascii_char(char) for char in text)


def wants_ascii(environ: Mapping[str, str] = os.environ) -> bool:
    """SHOPSYNC_ASCII=1/0 decides; otherwise the locale: LC_ALL, else LC_CTYPE, else LANG. "C",
    "POSIX" or a charset other than UTF-8 means ASCII; no locale set at all means UTF-8 (what
    terminals and SSH sessions without a forwarded LANG nearly always are)."""
    forced = environ.get("SHOPSYNC_ASCII", "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    locale = next((environ[n] for n in ("LC_ALL", "LC_CTYPE", "LANG") if environ.get(n)), "")
    if not locale:
        return False
    normalized = locale.lower().replace("-", "")
    return normalized in ("c", "posix") or "utf8" not in normalized


def ascii_writer(write: Callable[[str], None]) -> Callable[[str], None]:
    """A driver `write` that sends ASCII."""

    def write_ascii(data: str) -> None:
        write(to_ascii(data))

    return write_ascii
