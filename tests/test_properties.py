"""Property-based tests (hypothesis): rules that must hold for every input, not just examples.

- tui/safe_text (engine.domain.text.safe): no control or format character ever survives;
- engine.domain.domains.normalize_domain: idempotent, never yields a host outside myshopify.com;
- engine.domain.status.derive_status: its precedence (paused > needs a grant > failing > fine);
- webhook signatures (engine.webhooks.receipts) and OAuth callback HMACs (engine.shopify.oauth):
  what is signed verifies, and any other body, parameter or secret does not;
- the row mappers (engine.sync.rows, engine.webhooks.rows): arbitrary JSON never raises and
  every cell a database receives is a scalar.

Runs stay short (max_examples below, no deadline) so the whole suite stays fast.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.domain.coerce import scalar_row
from engine.domain.domains import SUFFIX, DomainError, normalize_domain
from engine.domain.status import (
    Check,
    Entity,
    EntityState,
    Status,
    StatusFacts,
    derive_status,
)
from engine.domain.views import HealthOutcome
from engine.shopify import oauth
from engine.sync import rows as bulk_rows
from engine.webhooks import receipts
from engine.webhooks import rows as webhook_rows
from tui.safe_text import content, plain, safe

# A loaded CI machine must not turn slow data generation into a failure: only the property can.
_CALM = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=_CALM)
ROWS = settings(max_examples=60, deadline=None, suppress_health_check=_CALM)

# -- safe_text ------------------------------------------------------------------------------------

# Every code point class a hostile store name might carry, weighted towards the dangerous ones.
hostile_text = st.lists(st.one_of(
    st.characters(),  # anything, including surrogates and unassigned code points
    st.characters(categories=["Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Zs"]),
    st.sampled_from(["\x1b", "\x1b]52;c;", "\x07", "\x9b", "\u202e", "\u200b", "\ufeff", "\n"]),
    st.text(max_size=8),
), max_size=20).map("".join)

FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _survivors(text: str, *, multiline: bool = False) -> list[str]:
    return [c for c in text if unicodedata.category(c) in FORBIDDEN
            and not (multiline and c == "\n")]


@QUICK
@given(hostile_text)
def test_safe_text_lets_no_control_or_format_character_through(text: str) -> None:
    shown = safe(text)
    assert _survivors(shown) == []
    assert "\x1b" not in shown and "\n" not in shown
    assert shown.isprintable()
    assert safe(shown) == shown  # already safe: unchanged


@QUICK
@given(hostile_text)
def test_multiline_keeps_only_newlines(text: str) -> None:
    shown = safe(text, multiline=True)
    assert _survivors(shown, multiline=True) == []
    assert shown.count("\n") == text.count("\n")


@QUICK
@given(hostile_text)
def test_the_widget_forms_carry_the_same_safe_text(text: str) -> None:
    assert plain(text).plain == safe(text)
    assert content(text).plain == safe(text)


@QUICK
@given(st.text(st.characters(categories=["L", "N", "P", "S"])))
def test_printable_text_is_shown_as_it_is(text: str) -> None:
    assume(text.isprintable())
    assert safe(text) == text


# -- domain normalisation -------------------------------------------------------------------------

MYSHOPIFY = re.compile(r"[a-z0-9][a-z0-9-]{2,58}[a-z0-9]\.myshopify\.com\Z")
store_names = st.from_regex(r"[a-z0-9][a-z0-9-]{2,58}[a-z0-9]", fullmatch=True)


@QUICK
@given(st.text())
def test_a_domain_normalises_to_a_myshopify_host_or_is_refused(text: str) -> None:
    try:
        domain = normalize_domain(text)
    except DomainError as error:
        assert str(error)  # the exact UI message, never an empty one
        return
    assert MYSHOPIFY.match(domain), domain
    assert normalize_domain(domain) == domain  # idempotent


@QUICK
@given(store_names, st.sampled_from(["{}", "{}.myshopify.com", "https://{}.myshopify.com/admin",
                                     "HTTP://{}.MyShopify.com/", " {}.myshopify.com. ",
                                     "admin.shopify.com/store/{}", "{}.myshopify.com?x=1#y"]))
def test_every_way_of_writing_a_store_gives_the_same_domain(name: str, form: str) -> None:
    assert normalize_domain(form.format(name)) == name + SUFFIX


@QUICK
@given(store_names, st.from_regex(r"[a-z]{2,10}(\.[a-z]{2,6}){0,2}", fullmatch=True),
       st.sampled_from(["{}.{}", "https://{}.{}/", "{}.myshopify.com.{}",
                        "admin.shopify.com/store/{}.{}", "https://{}.{}/admin.shopify.com"]))
def test_a_host_outside_myshopify_com_is_refused(name: str, host: str, form: str) -> None:
    assume(host != "myshopify.com")
    text = form.format(name, host)
    try:
        domain = normalize_domain(text)
    except DomainError:
        return
    raise AssertionError(f"{text!r} was accepted as {domain!r}")


# -- the status rule ------------------------------------------------------------------------------

entity_states = st.lists(
    st.tuples(st.sampled_from(list(Entity)), st.sampled_from(list(EntityState)),
              st.none() | st.text(max_size=20)),
    max_size=6,
).map(tuple)

facts = st.builds(
    StatusFacts,
    paused=st.booleans(),
    needs_reauth=st.booleans(),
    reauth_reason=st.none() | st.text(max_size=20),
    missing_scopes=st.lists(st.sampled_from(["read_orders", "read_products"]),
                            max_size=2, unique=True).map(tuple),
    health_failing=st.booleans(),
    health_detail=st.none() | st.text(max_size=20),
    entity_states=entity_states,
)


@QUICK
@given(facts)
def test_the_status_follows_its_precedence(f: StatusFacts) -> None:
    status, reason = derive_status(f)
    # An entity keeps its store in Error while it is Failed, and while a retry of the failed
    # sync (its error is still recorded) is queued or running.
    retrying = (EntityState.PENDING, EntityState.SYNCING)
    failing = f.health_failing or any(
        s is EntityState.FAILED or (m is not None and s in retrying)
        for _e, s, m in f.entity_states)
    if f.paused:
        expected = Status.DISCONNECTED
    elif f.needs_reauth or f.missing_scopes:
        expected = Status.RECONNECT_REQUIRED
    elif failing:
        expected = Status.ERROR
    else:
        expected = Status.CONNECTED
    assert status is expected
    assert (reason is None) == (status is Status.CONNECTED)  # every problem says why


# -- signing round trips --------------------------------------------------------------------------

secrets = st.text(min_size=1, max_size=40)


@QUICK
@given(st.binary(max_size=2048), secrets, secrets)
def test_a_webhook_signature_verifies_only_its_body_and_secret(
    body: bytes, secret: str, other: str
) -> None:
    signature = receipts.sign(body, secret)
    assert receipts.signature_valid(body, signature, [secret.encode()])
    assert receipts.signature_valid(body, signature, [other.encode(), secret.encode()])  # rotation
    assert not receipts.signature_valid(body + b" ", signature, [secret.encode()])
    if other != secret:
        assert not receipts.signature_valid(body, signature, [other.encode()])


@QUICK
@given(st.binary(max_size=256), st.text(max_size=60), secrets)
def test_a_malformed_webhook_signature_is_refused_not_raised(
    body: bytes, signature: str, secret: str
) -> None:
    assume(signature != receipts.sign(body, secret))
    assert not receipts.signature_valid(body, signature, [secret.encode()])


# Any parameters but the ones verify_callback reads itself (shop, timestamp, the signature).
oauth_params = st.dictionaries(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=30),
    max_size=6,
).map(lambda d: {k: v for k, v in d.items()
                 if k not in oauth.UNSIGNED | {"shop", "timestamp"}})


@QUICK
@given(oauth_params, secrets, secrets)
def test_an_oauth_callback_verifies_only_with_its_own_parameters_and_secret(
    params: dict[str, str], secret: str, other: str
) -> None:
    now = 1_800_000_000.0
    signed = {**params, "timestamp": str(int(now))}
    signed["hmac"] = oauth.sign(signed, secret)
    oauth.verify_callback(signed, [secret], now=now)
    oauth.verify_callback(signed, [other, secret], now=now)  # while a secret is rotated
    if other != secret:
        _refused(signed, [other], now)
    tampered = {**signed, "timestamp": str(int(now) + 1)}
    _refused(tampered, [secret], now)


def _refused(params: dict[str, str], secret_list: list[str], now: float) -> None:
    try:
        oauth.verify_callback(params, secret_list, now=now)
    except oauth.OAuthError:
        return
    raise AssertionError(f"verified with the wrong secret or parameters: {params!r}")


# -- row mappers ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=6,
)
# Objects with the fields the mappers read, each holding any JSON value (or absent).
BULK_KEYS = ["id", "firstName", "lastName", "defaultEmailAddress", "defaultPhoneNumber",
             "defaultAddress", "amountSpent", "tags", "state", "numberOfOrders", "createdAt",
             "updatedAt", "name", "customer", "email", "displayFinancialStatus",
             "displayFulfillmentStatus", "currencyCode", "totalPriceSet", "processedAt",
             "cancelledAt", "closedAt", "sku", "title", "quantity", "variant",
             "originalUnitPriceSet", "handle", "status", "vendor", "productType", "price",
             "sortOrder"]
REST_KEYS = ["id", "first_name", "last_name", "email", "phone", "email_marketing_consent",
             "sms_marketing_consent", "default_address", "tags", "state", "orders_count",
             "total_spent", "currency", "created_at", "updated_at", "name", "customer",
             "financial_status", "fulfillment_status", "total_price", "processed_at",
             "cancelled_at", "closed_at", "line_items", "title", "handle", "status", "vendor",
             "product_type", "variants", "sku", "price", "sort_order", "published_at",
             "quantity", "variant_id"]


def payloads(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, json_values))


def _cells_are_scalars(row: tuple[Any, ...]) -> None:
    for cell in scalar_row(row):
        assert cell is None or type(cell) in (str, int, float), row


@ROWS
@given(payloads(BULK_KEYS), st.booleans(), st.booleans(), st.none() | st.integers(0, 2**62))
def test_bulk_row_mappers_never_raise_on_arbitrary_json(
    o: dict[str, Any], email_on: bool, sms_on: bool, parent: int | None
) -> None:
    _cells_are_scalars(bulk_rows.customer_row(o, email_on, sms_on))
    for mapper in (bulk_rows.order_row, bulk_rows.product_row, bulk_rows.collection_row):
        _cells_are_scalars(mapper(o))
    for child in (bulk_rows.line_item_row, bulk_rows.variant_row, bulk_rows.membership_row):
        _cells_are_scalars(child(o, parent))


@ROWS
@given(payloads(REST_KEYS), st.integers(0, 2**62))
def test_webhook_row_mappers_never_raise_on_arbitrary_json(p: dict[str, Any], parent: int) -> None:
    for mapper in (webhook_rows.customer_row, webhook_rows.order_row, webhook_rows.product_row,
                   webhook_rows.collection_row):
        _cells_are_scalars(tuple(mapper(p).values()))
    for rows in (webhook_rows.line_item_rows(p, parent), webhook_rows.variant_rows(p, parent)):
        for row in rows:
            _cells_are_scalars(tuple(row.values()))


# -- the health job's stored result ---------------------------------------------------------------

@QUICK
@given(st.none() | st.dictionaries(st.sampled_from(["ok", "failed", "skipped", "x"]),
                                   st.none() | st.booleans() | st.text(max_size=12)
                                   | st.lists(st.sampled_from([c.value for c in Check] + ["?"]))))
def test_any_stored_health_result_reads_back_without_raising(result: dict | None) -> None:
    outcome = HealthOutcome.from_result(result)
    assert outcome.passed is (isinstance(result, dict) and result.get("ok") is True
                              and not isinstance(result.get("skipped"), str))
    assert HealthOutcome.from_result(outcome.to_result()) == outcome  # a round trip is exact
