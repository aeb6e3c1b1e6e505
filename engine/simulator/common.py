"""Small shared pieces of the simulator: the scalable clock, timestamps, GIDs, JSON responses.

Nothing here knows about shops or GraphQL; every other simulator module may import it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

ENTITIES: tuple[str, ...] = ("customers", "orders", "products", "collections")
TYPENAMES: dict[str, str] = {
    "customers": "Customer",
    "orders": "Order",
    "products": "Product",
    "collections": "Collection",
}
ENTITY_BY_TYPENAME: dict[str, str] = {v: k for k, v in TYPENAMES.items()}
READ_SCOPE: dict[str, str] = {
    "customers": "read_customers",
    "orders": "read_orders",
    "products": "read_products",
    "collections": "read_products",
}
ALL_SCOPES: tuple[str, ...] = (
    "read_customers",
    "write_customers",
    "read_orders",
    "write_orders",
    "read_products",
    "write_products",
)
MAX_BODY = 1024 * 1024
M64 = (1 << 64) - 1
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def mix(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_DAYS: dict[int, str] = {}


def stamp(epoch: int) -> str:
    """`2026-11-27T10:00:00Z` for an integer epoch (cached per day: this is on the hot path)."""
    day, rest = divmod(epoch, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
        if len(_DAYS) < 100_000:
            _DAYS[day] = prefix
    hours, rest = divmod(rest, 3600)
    return f"{prefix}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


class Clock:
    """Monotonic time that can run faster than real time (`time_scale`), plus wall-clock stamps.

    Durations inside the simulator (token lifetimes, bulk progress, bucket refill, webhook
    retry backoff) are measured on `now()`; a `time_scale` of 10 makes them pass 10x faster,
    and `advance(seconds)` (POST /_sim/clock) jumps ahead at once, so tests need not sleep.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scale = time_scale
        self._origin = time.monotonic()
        self._skipped = 0.0  # simulated seconds jumped over by advance()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale + self._skipped

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by `seconds` at once; returns the new `now()`."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._skipped += seconds
        return self.now()

    def real_seconds(self, simulated: float) -> float:
        """How long to really sleep for `simulated` seconds to pass."""
        return max(0.0, simulated / self.scale)

    @staticmethod
    def wall() -> float:
        return time.time()


def iso(epoch: float) -> str:
    """`2026-11-27T10:00:00Z` (seconds precision, UTC), as Shopify's DateTime."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Parse a DateTime or date as Shopify search syntax accepts it; raises ValueError."""
    value = text.strip().strip("'\"")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def gid(typename: str, numeric: int) -> str:
    return f"gid://shopify/{typename}/{numeric}"


def parse_gid(value: object) -> tuple[str, int] | None:
    """`gid://shopify/Order/5` → ("Order", 5); anything else → None."""
    if not isinstance(value, str) or not value.startswith("gid://shopify/"):
        return None
    parts = value[len("gid://shopify/") :].split("/")
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def error(status: int, message: str, **extra: Any) -> Response:
    """The control API's error body: `{"error": message, ...}`."""
    return json_response({"error": message, **extra}, status)


class BodyError(Exception):
    """A request body that cannot be used; carries the response to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing more than `limit` bytes with 413."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(error(413, f"request body larger than {limit} bytes"))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(error(413, f"request body larger than {limit} bytes"))
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 400 for bad JSON or a non-object, 413 when too large."""
    raw = await read_body(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise BodyError(error(400, "request body must be a JSON object"))
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BodyError(error(400, f"invalid JSON: {exc}")) from None
    if not isinstance(value, dict):
        raise BodyError(error(400, "request body must be a JSON object"))
    return value
