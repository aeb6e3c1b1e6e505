"""Peewee models: one per table. The database is bound at runtime by engine.persistence.database.

Record tables (customers, orders, …) are unique per (store, shopify_id) and carry `seen_run`,
the id of the last complete export that saw the row (drift repair deletes rows a full run did
not see). Their hot import path does not go through these classes but through executemany in
engine.sync.importer; the column names here are that SQL's contract.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson
from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from engine.domain.jobs import JobKind, JobState

database = DatabaseProxy()


def utcnow() -> datetime:
    """Naive UTC now: every timestamp in the database is naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class JSONField(TextField):
    """JSON stored as text, decoded the same way on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def python_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, str | bytes):
            return value
        return orjson.loads(value)


class EnumField(CharField):
    """A StrEnum stored as its value: the column holds plain text, Python sees the member.

    Writing a string that is not one of the enum's values raises ValueError before any SQL runs.
    """

    def __init__(self, enum: type[StrEnum], **kwargs: Any) -> None:
        self.enum = enum
        if isinstance(kwargs.get("default"), StrEnum):
            kwargs["default"] = kwargs["default"].value
        super().__init__(**kwargs)

    def db_value(self, value: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def python_value(self, value: Any) -> Any:
        return None if value is None else self.enum(value)


class BaseModel(Model):
    if TYPE_CHECKING:  # peewee adds this primary key at runtime; say so to the type checker
        id = AutoField()

    class Meta:
        database = database
        legacy_table_names = False


class SchemaMeta(BaseModel):
    key = CharField(primary_key=True)
    value = TextField()


class Store(BaseModel):
    domain = CharField(unique=True)
    name = TextField(default="")
    # Store information, refreshed by every health check.
    email = TextField(null=True)
    custom_domain = TextField(null=True)
    plan = TextField(null=True)
    currency = CharField(null=True)
    country = TextField(null=True)
    shop_created_at = DateTimeField(null=True)
    connected_at = DateTimeField(default=utcnow)  # "Created": when shopsync first connected it
    # Credentials, Fernet-encrypted; never leave engine.persistence.vault in plaintext.
    token_enc = TextField(null=True)
    refresh_token_enc = TextField(null=True)
    token_expires_at = DateTimeField(null=True)
    refresh_expires_at = DateTimeField(null=True)
    auth_method = CharField(default="oauth")  # oauth | token
    granted_scopes = TextField(default="")  # comma-separated
    # Facts the status is derived from.
    paused = BooleanField(default=False)
    needs_reauth = BooleanField(default=False)
    reauth_reason = TextField(null=True)
    health_failing = BooleanField(default=False)
    health_detail = TextField(null=True)
    readiness = JSONField(default=dict)  # Check value -> {"ok": bool, "detail": str|None}
    last_checked_at = DateTimeField(null=True)
    initial_sync_completed_at = DateTimeField(null=True)
    # Sync settings: the five categories.
    cat_customers = BooleanField(default=True)
    cat_email_consent = BooleanField(default=True)
    cat_sms_consent = BooleanField(default=True)
    cat_orders = BooleanField(default=True)
    cat_catalogue = BooleanField(default=True)
    # Derived by engine.domain.status.derive_status; stored so lists can filter and sort by it.
    status = CharField(default="connected", index=True)
    status_detail = TextField(null=True)
    # Delete in progress: the card shows it until cleanup removes the row.
    deleting = BooleanField(default=False)
    # Live data.
    webhooks_registered_at = DateTimeField(null=True)
    webhook_topics = TextField(default="")  # comma-separated topics registered at Shopify
    # When the scheduler last queued a re-assertion of the subscriptions (in the database, so
    # every serve process paces them alike).
    webhooks_asserted_at = DateTimeField(null=True)
    last_webhook_at = DateTimeField(null=True)
    last_incremental_at = DateTimeField(null=True)
    last_reconcile_at = DateTimeField(null=True)
    # When the store's records were last counted against Shopify's (engine.sync.counts), or the
    # scheduler last queued that check: the next scheduled one is due an interval after.
    counts_checked_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class EntitySync(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", backref="entity_syncs")
    if TYPE_CHECKING:  # the foreign key's raw value, which peewee adds beside `store`
        store_id: int
    entity = CharField()  # customers | orders | products | collections
    state = CharField(default="pending")  # pending | syncing | synced | failed | off
    done = IntegerField(default=0)
    total = IntegerField(null=True)
    records = IntegerField(default=0)
    last_synced_at = DateTimeField(null=True)  # last successful *bulk* sync, never a webhook
    error = TextField(null=True)
    bulk_operation_id = TextField(null=True)  # adopted again after a crash
    # Increments per run (full, incremental, reconcile); rows a run sees get seen_run = run_id.
    run_id = IntegerField(default=0)
    run_kind = CharField(null=True)  # full | incremental | reconcile
    # Rows of the entity's table when the current run started: created = rows after − this,
    # kept on the row so a resumed run (adopted bulk operation) still reports exact counts.
    run_base = IntegerField(null=True)
    full_synced_at = DateTimeField(null=True)  # last successful *full* run (initial sync)
    # The last full run failed (and no full run has succeeded since): incremental runs may
    # succeed meanwhile, but only a full run repairs drift, so the failure stays visible.
    full_failed_at = DateTimeField(null=True)
    full_error = TextField(null=True)
    cursor_updated_at = DateTimeField(null=True)  # incremental watermark (max updatedAt seen)
    progress_at = DateTimeField(null=True)  # last time `done` moved: stuck detection
    # engine.domain.progress.SyncProgress of the running sync: phase, rate, ETA, export counts.
    progress_info = JSONField(null=True)
    # The entity's last count check (engine.sync.counts): {"here", "shopify", "previous_shopify",
    # "previous_at", "changed", "slack", "mismatch", "at"}; None before the first.
    count_check = JSONField(null=True)
    # The same, typed and indexed for the fleet-wide reads (/metrics, Troubleshoot): local minus
    # Shopify's count while the last check found a mismatch (else NULL), and when the last check
    # found Shopify's count moved since the previous one (else NULL).
    count_drift = IntegerField(null=True, index=True)
    count_moved_at = DateTimeField(null=True, index=True)
    started_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("store", "entity"), True),)


def _record_indexes() -> tuple:
    return ((("store", "shopify_id"), True),)


class Customer(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    first_name = TextField(null=True)
    last_name = TextField(null=True)
    email = TextField(null=True)
    phone = TextField(null=True)
    email_marketing_state = CharField(null=True)
    email_opt_in_level = CharField(null=True)
    email_consent_updated_at = TextField(null=True)
    sms_marketing_state = CharField(null=True)
    sms_opt_in_level = CharField(null=True)
    sms_consent_updated_at = TextField(null=True)
    address1 = TextField(null=True)
    address2 = TextField(null=True)
    city = TextField(null=True)
    province = TextField(null=True)
    country = TextField(null=True)
    country_code = CharField(null=True)
    zip = CharField(null=True)
    tags = TextField(null=True)
    state = CharField(null=True)
    orders_count = IntegerField(null=True)
    amount_spent = TextField(null=True)
    currency = CharField(null=True)
    created_at = TextField(null=True)
    updated_at = TextField(null=True)  # ISO-8601 UTC from Shopify; newest wins
    seen_run = IntegerField(default=0)
    changed_run = IntegerField(default=0)  # the run that created or last changed it

    class Meta:
        indexes = _record_indexes()


class Order(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    name = TextField(null=True)
    customer_id = BigIntegerField(null=True)  # Shopify id of the customer
    email = TextField(null=True)
    financial_status = CharField(null=True)
    fulfillment_status = CharField(null=True)
    currency = CharField(null=True)
    total_price = TextField(null=True)
    processed_at = TextField(null=True)
    cancelled_at = TextField(null=True)
    closed_at = TextField(null=True)
    created_at = TextField(null=True)
    updated_at = TextField(null=True)
    seen_run = IntegerField(default=0)
    changed_run = IntegerField(default=0)  # the run that created or last changed it

    class Meta:
        indexes = _record_indexes()


class OrderLineItem(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    order_id = BigIntegerField()  # Shopify id of the order
    sku = TextField(null=True)
    title = TextField(null=True)
    quantity = IntegerField(null=True)
    variant_id = BigIntegerField(null=True)
    unit_price = TextField(null=True)
    seen_run = IntegerField(default=0)

    class Meta:
        indexes = (*_record_indexes(), (("store", "order_id"), False))


class Product(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    title = TextField(null=True)
    handle = TextField(null=True)
    status = CharField(null=True)
    vendor = TextField(null=True)
    product_type = TextField(null=True)
    tags = TextField(null=True)
    created_at = TextField(null=True)
    updated_at = TextField(null=True)
    seen_run = IntegerField(default=0)
    changed_run = IntegerField(default=0)  # the run that created or last changed it

    class Meta:
        indexes = _record_indexes()


class ProductVariant(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    product_id = BigIntegerField()
    title = TextField(null=True)
    sku = TextField(null=True)
    price = TextField(null=True)
    updated_at = TextField(null=True)
    seen_run = IntegerField(default=0)

    class Meta:
        indexes = (*_record_indexes(), (("store", "product_id"), False))


class Collection(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    shopify_id = BigIntegerField()
    handle = TextField(null=True)
    title = TextField(null=True)
    sort_order = CharField(null=True)
    updated_at = TextField(null=True)
    seen_run = IntegerField(default=0)
    changed_run = IntegerField(default=0)  # the run that created or last changed it

    class Meta:
        indexes = _record_indexes()


class CollectionMembership(BaseModel):
    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    collection_id = BigIntegerField()
    product_id = BigIntegerField()
    seen_run = IntegerField(default=0)

    class Meta:
        indexes = ((("store", "collection_id", "product_id"), True),)


class Job(BaseModel):
    """A durable unit of work, claimed by a runner with a lease and heartbeat."""

    kind = EnumField(JobKind, index=True)
    store_id = IntegerField(null=True, index=True)  # not a FK: delete jobs outlive the store
    store_domain = TextField(null=True)
    entity = CharField(null=True)
    params = JSONField(default=dict)
    state = EnumField(JobState, default=JobState.QUEUED, index=True)
    lease_owner = TextField(null=True)
    lease_expires_at = DateTimeField(null=True)
    heartbeat_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    progress_done = IntegerField(default=0)
    progress_total = IntegerField(null=True)
    result = JSONField(null=True)
    error = TextField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)


class Event(BaseModel):
    """The activity log: every action, state change, sync summary and webhook."""

    at = DateTimeField(default=utcnow, index=True)
    store_id = IntegerField(null=True, index=True)
    store_domain = TextField(null=True)
    kind = CharField()  # action | status | sync | health | webhook | job | connect
    level = CharField(default="info")  # info | warning | error
    message = TextField()
    data = JSONField(null=True)


class WebhookReceipt(BaseModel):
    event_id = CharField(null=True, index=True)
    webhook_id = CharField(null=True, index=True)
    topic = CharField()
    shop_domain = TextField()
    store_id = IntegerField(null=True)
    api_version = CharField(null=True)
    triggered_at = TextField(null=True)
    received_at = DateTimeField(default=utcnow, index=True)
    body = TextField()  # "" for a duplicate: the original receipt holds the body
    body_digest = CharField(null=True, index=True)  # SHA-256 of the body (the dedupe key)
    # received | applied | ignored | unconfirmed | duplicate | failed
    status = CharField(default="received", index=True)
    detail = TextField(null=True)


class OAuthState(BaseModel):
    """A single-use OAuth `state` nonce tied to the shop and purpose it was issued for."""

    state = CharField(unique=True)
    domain = CharField()
    purpose = CharField(default="connect")  # connect | reconnect
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    result = TextField(null=True)  # None while pending; "ok" or an error message


class RunnerHeartbeat(BaseModel):
    owner = CharField(unique=True)
    kind = CharField()  # serve | embedded | cli
    pid = IntegerField()
    host = TextField()
    started_at = DateTimeField(default=utcnow)
    beat_at = DateTimeField(default=utcnow, index=True)
    stopping = BooleanField(default=False)


class Metric(BaseModel):
    """Durable counters for /metrics, shared by every process on the database."""

    name = CharField()
    labels = TextField(default="")  # canonical "k=v,k=v"
    value = FloatField(default=0.0)

    class Meta:
        indexes = ((("name", "labels"), True),)


class StoreChange(BaseModel):
    """The store change log: one row per write to a store, its entity rows or its jobs.

    Written only by database triggers (engine.persistence.revisions); read by
    engine.persistence.fleet. `xid` is the writing transaction on PostgreSQL (0 on SQLite).
    """

    store_id = IntegerField()  # not a FK: a deleted store's last change is logged too
    xid = BigIntegerField(default=0)
    at = DateTimeField(default=utcnow, index=True)


class RecordMark(BaseModel):
    """Per record, what every serve process must agree on (engine.webhooks.marks): the trigger
    time of the webhook that last wrote it, and when a delete removed it (a tombstone)."""

    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    entity = CharField()
    record_id = BigIntegerField()
    triggered_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("store", "entity", "record_id"), True),)


class WebhookRejection(BaseModel):
    """Refused webhook deliveries (bad signature, malformed body, headers that contradict the
    signed body) counted per claimed store, topic, hour and reason: webhook health's
    "rejected in the last 24 h". A counter only: no body, no ids, no headers are kept, a row
    exists only for a store we have and a topic we subscribe to, and rows older than 48 hours
    are pruned, so a flood of forgeries costs at most one row per store, topic, reason and
    hour (engine.webhooks.receipts.count_rejections writes it)."""

    store = ForeignKeyField(Store, on_delete="CASCADE", index=False)
    topic = CharField()  # "orders/create"
    hour = DateTimeField(index=True)  # naive UTC, truncated to the hour
    reason = CharField()  # signature | malformed | shop_mismatch | … (claims.py's reasons)
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("store", "topic", "hour", "reason"), True),)


RECORD_MODELS = (
    Customer, Order, OrderLineItem, Product, ProductVariant, Collection, CollectionMembership,
)

ALL_MODELS = (
    SchemaMeta, Store, EntitySync, *RECORD_MODELS, Job, Event, WebhookReceipt, OAuthState,
    RunnerHeartbeat, Metric, StoreChange, RecordMark, WebhookRejection,
)
