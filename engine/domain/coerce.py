"""Payload values → column values: the one set of coercers for bulk exports and webhooks.

Shopify's payloads are untrusted JSON: a field may hold the wrong type (an object where a name
belongs, text where a date belongs, a negative id). A coercer never raises and never stores a
Python repr: a value of the wrong shape becomes None (NULL), and `MALFORMED` counts it by kind so
the caller can report how many it dropped (`take_malformed`). A missing value (None, "") is not
malformed.

The GraphQL (bulk export) and REST (webhook) shapes are normalised to the same column values:
enums upper-case with underscores, timestamps as UTC `YYYY-MM-DDTHH:MM:SSZ`, tags as one
comma-separated string, ids as non-negative integers.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

# Values dropped because of their shape, by coercer ("int", "text", "time", …); process-local.
MALFORMED: Counter[str] = Counter()


def _malformed(kind: str) -> None:
    """Count one value dropped as NULL (every coercer returns None right after)."""
    MALFORMED[kind] += 1


def take_malformed() -> dict[str, int]:
    """The malformed counts since the last call, by kind (and reset them)."""
    counts = dict(MALFORMED)
    MALFORMED.clear()
    return counts


# The largest integer a database column holds (SQLite INTEGER, PostgreSQL BIGINT): a larger one
# cannot be bound at all, and one such value used to fail its whole batch with OverflowError.
MAX_INTEGER = (1 << 63) - 1


def gid_number(value: Any) -> int | None:
    """`gid://shopify/Order/123` → 123 (None for anything that is not a GID, or whose number
    no database column can hold)."""
    try:  # the hot path: called for every id, parent id and reference of every line
        number = int(value[value.rindex("/") + 1:])
    except (ValueError, TypeError, AttributeError):
        pass
    else:
        if 0 <= number <= MAX_INTEGER:
            return number
        _malformed("id")
        return None
    if value is None:
        return None
    if not isinstance(value, str):
        _malformed("id")
        return None
    tail = value.rsplit("/", 1)[-1].split("?", 1)[0]  # gid://shopify/Order/123?x=y
    # isascii: "²" passes isdigit() but int() refuses it
    if tail.isascii() and tail.isdigit() and int(tail) <= MAX_INTEGER:
        return int(tail)
    _malformed("id")
    return None


def as_int(value: object) -> int | None:
    """A non-negative integer (an id, a count, a quantity) from a JSON number, digits or a GID,
    no larger than a database column holds."""
    if type(value) is int:  # the common case first; bool is not an int here
        if 0 <= value <= MAX_INTEGER:
            return value
        _malformed("int")
        return None
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_INTEGER:
        return int(value)
    if isinstance(value, str):
        text = value.rsplit("/", 1)[-1]  # also accepts gid://shopify/Order/5
        # "²" passes isdigit() but int() refuses it
        if text.isascii() and text.isdigit() and int(text) <= MAX_INTEGER:
            return int(text)
    _malformed("int")
    return None


def text(value: object) -> str | None:
    """A string column: text as is, a number in its JSON spelling, anything else None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    _malformed("text")
    return None


def tags(value: object) -> str | None:
    """Tags as one comma-separated string (GraphQL sends a list, REST a string)."""
    if isinstance(value, list):
        return ", ".join(t for t in (text(t) for t in value) if t is not None)
    if value is None or isinstance(value, str):
        return value
    _malformed("tags")
    return None


def as_dict(value: object) -> dict[str, Any]:
    """A nested object, or {} when the payload has anything else there."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """A nested array, or [] when the payload has anything else there."""
    return value if isinstance(value, list) else []


def enum(value: object) -> str | None:
    """REST's `partially_refunded` / `best-selling` in GraphQL's `PARTIALLY_REFUNDED` form."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _malformed("enum")
        return None
    return value.upper().replace("-", "_").replace(" ", "_")


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO-8601 string (`Z`, offsets, or naive = UTC); else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def naive_utc(value: object) -> datetime | None:
    """As parse_time, as the naive UTC datetime the database stores."""
    moment = parse_time(value)
    return None if moment is None else moment.replace(tzinfo=None)


def iso_utc(value: object) -> str | None:
    """`2026-10-05T10:05:00-04:00` → `2026-10-05T14:05:00Z`; anything not a time → None."""
    if value is None or value == "":
        return None
    moment = parse_time(value)
    if moment is None:
        _malformed("time")
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_SCALARS = (str, int, float, type(None))


def _bindable(value: Any) -> bool:
    kind = type(value)
    return kind in _SCALARS and (kind is not int or -MAX_INTEGER - 1 <= value <= MAX_INTEGER)


def scalar_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` with every value a database can bind: an object or list where a scalar belongs
    becomes None, an integer too large for any column its digits as text (the bulk mappers
    pass most values through untouched, for speed; the integer columns are checked there)."""
    for value in row:
        if not _bindable(value):
            return tuple(value if _bindable(value) else text(value) for value in row)
    return row
