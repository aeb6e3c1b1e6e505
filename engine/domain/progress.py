"""Backfill progress: one unit per entity (its root records), a sliding-window rate and an ETA.

A sync has two phases. *export*: Shopify builds the result file; its own progress is the bulk
operation's objectCount / rootObjectCount (against the entity's record count when Shopify gave
one), with a rate and an ETA of its own. *import*: the file is streamed into the tables; the
entity's bar is root records imported (orders, customers, products, collections — never child
lines) against the export's rootObjectCount, so it only moves forward and ends at 100%.

The sync writes a `SyncProgress` (as JSON on the entity's sync row) a few times a second; the
rate is measured over the last WINDOW seconds by `RateWindow`, and readers age the ETA by the
time since it was written (`eta_at(now)`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WINDOW = 10.0  # seconds of samples a rate is measured over
MIN_SPAN = 0.5  # a rate needs samples at least this far apart


class RateWindow:
    """Units per second over the last `window` seconds of (time, count) samples."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, count: int) -> None:
        if self.samples and count < self.samples[-1][1]:
            self.samples.clear()  # a restart of the count (a re-streamed file): measure afresh
        self.samples.append((at, count))
        while len(self.samples) > 2 and at - self.samples[1][0] >= self.window:
            self.samples.popleft()

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        if t1 - t0 < MIN_SPAN:
            return None
        return max(c1 - c0, 0) / (t1 - t0)

    def eta(self, remaining: int | None) -> float | None:
        """Seconds until `remaining` more units at the current rate (None: cannot tell yet)."""
        if remaining is None:
            return None
        if remaining <= 0:
            return 0.0
        rate = self.rate()
        return remaining / rate if rate else None


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """What a running sync last reported beyond done/total (see the module docstring)."""

    phase: str  # "export" | "import"
    rate: float | None  # import: root records per second
    eta_seconds: float | None  # import: until every root record is in
    export_objects: int = 0  # Shopify's objectCount so far (root and child lines)
    export_roots: int = 0  # Shopify's rootObjectCount so far
    export_total: int | None = None  # root records the export will hold, when known
    export_rate: float | None = None  # objects per second
    export_eta_seconds: float | None = None
    updated_at: datetime | None = None

    def eta_at(self, now: datetime) -> float | None:
        """The ETA of the current phase, aged by the time since it was written."""
        eta = self.export_eta_seconds if self.phase == "export" else self.eta_seconds
        if eta is None:
            return None
        age = (now - self.updated_at).total_seconds() if self.updated_at else 0.0
        return max(eta - max(age, 0.0), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "rate": _round(self.rate), "eta_seconds": _round(self.eta_seconds),
            "export_objects": self.export_objects, "export_roots": self.export_roots,
            "export_total": self.export_total, "export_rate": _round(self.export_rate),
            "export_eta_seconds": _round(self.export_eta_seconds),
            "updated_at": self.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, data: object) -> SyncProgress | None:
        """Parse what `to_json` wrote; None for anything else (an old or damaged value)."""
        if not isinstance(data, dict) or data.get("phase") not in ("export", "import"):
            return None
        updated = data.get("updated_at")
        moment = None
        if isinstance(updated, str):
            try:
                moment = datetime.strptime(updated, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                moment = None
        return cls(
            phase=str(data["phase"]), rate=_number(data.get("rate")),
            eta_seconds=_number(data.get("eta_seconds")),
            export_objects=int(_number(data.get("export_objects")) or 0),
            export_roots=int(_number(data.get("export_roots")) or 0),
            export_total=_int_or_none(data.get("export_total")),
            export_rate=_number(data.get("export_rate")),
            export_eta_seconds=_number(data.get("export_eta_seconds")), updated_at=moment,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int_or_none(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def format_rate(rate: float | None) -> str:
    """"1,234/s" ("—/s" when not measured yet)."""
    if rate is None:
        return "—/s"
    return f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.1f}/s"


def format_eta(seconds: float | None, *, short: bool = False) -> str:
    """"ETA 45 s", "ETA 2 min 21 s" (`short`: "ETA 2 min"), "ETA 1 h 20 min"; "ETA —" when
    unknown."""
    if seconds is None:
        return "ETA —"
    value = round(seconds)
    if value < 60:
        return f"ETA {value} s"
    if value < 3600:
        minutes, rest = divmod(value, 60)
        exact = minutes < 5 and rest and not short
        return f"ETA {minutes} min" + (f" {rest} s" if exact else "")
    hours, rest = divmod(value, 3600)
    return f"ETA {hours} h {rest // 60} min"


def describe(done: int, total: int | None, info: SyncProgress | None, now: datetime | None) -> str:
    """A syncing entity in words: "Exporting at Shopify: 14,400 objects (7,200 of 12,000) ·
    1,200/s · ETA 4 s" while Shopify builds the file, then "Importing: 35,679 of 210,236 ·
    1,234/s · ETA 2 min" (root records per second over the last few seconds). `now` ages the
    ETA by the time since the sync wrote it."""
    eta = None
    if info is not None:
        eta = info.eta_at(now) if now is not None else (
            info.export_eta_seconds if info.phase == "export" else info.eta_seconds)
    if info is not None and info.phase == "export":
        of = f" of {info.export_total:,}" if info.export_total else ""
        return (f"Exporting at Shopify: {info.export_objects:,} objects "
                f"({info.export_roots:,}{of}) · {format_rate(info.export_rate)} · "
                f"{format_eta(eta)}")
    text = f"Importing: {done:,}" + (f" of {total:,}" if total else "")
    if info is not None and info.phase == "import":
        text += f" · {format_rate(info.rate)} · {format_eta(eta)}"
    return text
