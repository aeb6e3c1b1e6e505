"""Time as the TUI shows it: an injectable clock and "3 min ago" texts.

Every timestamp in the database is naive UTC, so the clock returns naive UTC too. Tests and
screenshots pass a frozen clock to `ShopsyncApp(clock=...)` so relative times never drift.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: naive UTC, like the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def relative(moment: datetime | None, now: datetime, *, never: str = "never") -> str:
    """`moment` relative to `now`: "just now", "3 min ago", "2 h ago", "5 d ago"."""
    if moment is None:
        return never
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "just now" if seconds > -60 else "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def compact_count(value: int) -> str:
    """A record count in at most four cells: 912 · 9120 · 48k · 1.2M · 12M."""
    if value < 10_000:
        return str(value)
    if value < 1_000_000:
        return f"{value // 1000}k"
    if value < 10_000_000:
        return f"{value / 1_000_000:.1f}M"
    return f"{value // 1_000_000}M"
