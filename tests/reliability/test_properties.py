"""Property tests (hypothesis) for what faces untrusted input: the webhook verifier and claim
check, the receiver as a whole, and the payload mappers of both the webhook and the bulk paths.

- nothing here raises, whatever JSON (or bytes) comes in;
- a delivery that fails verification writes nothing, whatever its body and headers;
- a mapped row holds only scalars (None, bool, int, float, str): never a Python repr of a
  dict or list where a name or a date belongs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from engine.config import load_settings
from engine.persistence.runtime import open_runtime
from engine.serve.app import create_app
from engine.sync import rows as bulk_rows
from engine.webhooks import rows as webhook_rows
from engine.webhooks.apply import COMPLIANCE_TOPICS, ENTITY_TOPICS, LIFECYCLE_TOPICS
from engine.webhooks.claims import claims_mismatch
from engine.webhooks.receipts import read_headers, sign, signature_valid
from tests.engine.livedata_support import dump_tables, store_row

SECRET = "property-secret"
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | (
    st.floats(allow_nan=False, allow_infinity=False)) | st.text(max_size=30)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(
    st.text(max_size=10), children, max_size=4), max_leaves=12)
TOPICS = st.sampled_from(sorted((*ENTITY_TOPICS, *COMPLIANCE_TOPICS, *LIFECYCLE_TOPICS))) | (
    st.text(max_size=30))
FIELDS = ("id", "admin_graphql_api_id", "name", "title", "email", "updated_at", "created_at",
          "customer", "line_items", "variants", "default_address", "tags", "status",
          "financial_status", "fulfillment_status", "total_price", "shop_domain",
          "myshopify_domain", "email_marketing_consent", "sms_marketing_consent", "handle",
          "quantity", "price", "sku", "legacyResourceId", "displayName", "__parentId")
PAYLOADS = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=12) | st.dictionaries(
    st.text(max_size=10), JSON, max_size=5)
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _scalars_only(row: dict[str, Any] | tuple[Any, ...]) -> None:
    for key, value in (row.items() if isinstance(row, dict) else enumerate(row)):
        assert value is None or isinstance(value, bool | int | float | str), (key, value)
        if isinstance(value, str):
            assert not value.startswith(("{'", "['")), (key, value)  # a Python repr


@FAST
@given(TOPICS, st.text(max_size=40), PAYLOADS)
def test_the_claim_check_never_raises(topic: str, shop: str, payload: dict[str, Any]) -> None:
    reason = claims_mismatch(topic, shop, payload)
    assert reason in (None, "unknown_topic", "shop_mismatch", "resource_mismatch")


@FAST
@given(st.binary(max_size=200), st.text(max_size=60) | st.none(),
       st.lists(st.binary(min_size=1, max_size=20), max_size=3),
       st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=6))
def test_the_verifier_never_raises(body: bytes, signature: str | None, secrets: list[bytes],
                                   headers: dict[str, str]) -> None:
    assert signature_valid(body, signature, secrets) in (True, False)
    read_headers(headers)


@FAST
@given(PAYLOADS, st.integers(min_value=0, max_value=2**40))
def test_webhook_mappers_never_raise_and_store_only_scalars(p: dict[str, Any], parent: int
                                                            ) -> None:
    for mapper in (webhook_rows.customer_row, webhook_rows.order_row, webhook_rows.product_row,
                   webhook_rows.collection_row):
        _scalars_only(mapper(p))
    for row in (*webhook_rows.line_item_rows(p, parent), *webhook_rows.variant_rows(p, parent)):
        _scalars_only(row)


# The bulk export is GraphQL: its String fields are strings (or null) by schema; objects, ids,
# amounts and lists are what a mapper must take apart defensively.
STRING_FIELDS = ("name", "title", "email", "firstName", "lastName", "handle", "status", "sku",
                 "vendor", "productType", "state", "createdAt", "updatedAt", "sortOrder",
                 "displayFinancialStatus", "currencyCode", "processedAt")
BULK = st.fixed_dictionaries({}, optional={
    **{name: st.none() | st.text(max_size=20) for name in STRING_FIELDS},
    **{name: JSON for name in ("id", "customer", "variant", "totalPriceSet", "price",
                               "originalUnitPriceSet", "quantity", "numberOfOrders", "tags",
                               "defaultAddress", "defaultEmailAddress", "defaultPhoneNumber",
                               "amountSpent")},
})


@FAST
@given(BULK, st.integers(min_value=0, max_value=2**40) | st.none(), st.booleans())
def test_bulk_mappers_never_raise_and_store_only_scalars(o: dict[str, Any], parent: int | None,
                                                         consent: bool) -> None:
    _scalars_only(bulk_rows.customer_row(o, consent, not consent))
    for mapper in (bulk_rows.order_row, bulk_rows.product_row, bulk_rows.collection_row):
        _scalars_only(mapper(o))
    for mapper in (bulk_rows.line_item_row, bulk_rows.variant_row, bulk_rows.membership_row):
        _scalars_only(mapper(o, parent))


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """One app for every example of the test (in the test's own isolated SHOPSYNC_HOME)."""
    monkeypatch.setenv("SHOPSYNC_API_SECRET", SECRET)
    runtime = open_runtime(load_settings())
    store_row("prop.myshopify.com")
    try:
        with TestClient(create_app(runtime)) as client:
            yield client
    finally:
        runtime.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | JSON.map(orjson.dumps), topic=TOPICS,
       shop=st.sampled_from(["prop.myshopify.com", "other.myshopify.com"]),
       signature=st.text(max_size=50) | st.just(""),
       extra=st.dictionaries(st.sampled_from(["X-Shopify-Event-Id", "X-Shopify-Webhook-Id",
                                              "X-Shopify-Triggered-At", "Content-Length"]),
                             st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                                     max_size=20), max_size=3))
def test_a_delivery_that_fails_verification_writes_nothing(
    receiver: TestClient, body: bytes, topic: str, shop: str, signature: str,
    extra: dict[str, str],
) -> None:
    if signature == sign(body, SECRET):
        return  # a valid signature by chance is not this property
    before = dump_tables()
    headers = {"X-Shopify-Topic": topic.encode("utf-8", "replace").decode("latin-1"),
               "X-Shopify-Shop-Domain": shop, "X-Shopify-Hmac-Sha256": signature, **extra}
    try:
        response = receiver.post("/webhooks", content=body, headers=headers)
    except ValueError:  # the client refuses to send such a header: nothing to test
        return
    assert response.status_code in (400, 401, 413), response.text
    assert receiver.app.state.live.ingest.wait_idle(5.0)
    assert dump_tables() == before
