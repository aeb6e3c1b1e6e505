"""Webhook health per store and topic: the read model the store's Details drawer and
`show --json` show (engine.persistence.webhook_health reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.domain.views import iso

SUBSCRIPTIONS_CHECKED = "Webhook subscriptions at Shopify"  # the event the check records


@dataclass(frozen=True, slots=True)
class TopicHealth:
    """One topic of one store over the last 24 hours."""

    topic: str  # "orders/create"
    subscribed: bool | None  # at this engine's URL, as last checked (None: never checked)
    uri: str | None  # this engine's webhook URL when subscribed there
    other_uris: tuple[str, ...]  # the same topic registered at other URLs (another install)
    last_delivery_at: datetime | None
    deliveries: int  # accepted in the last 24 h (duplicates not counted)
    duplicates: int  # dropped as duplicates in the last 24 h
    # reason -> deliveries refused (bad signature, malformed, …) in the last 24 h, by the hour
    rejected: dict[str, int] = field(default_factory=dict)
    lag_median_seconds: float | None = None  # received − X-Shopify-Triggered-At
    lag_worst_seconds: float | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_json(self) -> dict:
        return {
            "topic": self.topic, "subscribed": self.subscribed, "uri": self.uri,
            "other_uris": list(self.other_uris),
            "last_delivery_at": iso(self.last_delivery_at),
            "deliveries_24h": self.deliveries, "duplicates_24h": self.duplicates,
            "rejected_24h": self.rejected_total,
            "rejected_reasons_24h": dict(sorted(self.rejected.items())),
            "lag_median_seconds": _round(self.lag_median_seconds),
            "lag_worst_seconds": _round(self.lag_worst_seconds),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
