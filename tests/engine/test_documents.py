"""Every GraphQL document the engine sends validates against the REAL Admin schema (2026-07).

Deprecated fields are errors (NoDeprecatedCustomRule) except the explicit allow-list below, and
bulk queries also respect Shopify's bulk restrictions (≤ 5 connections, ≤ 2 levels of nesting).
"""

from __future__ import annotations

import re

import pytest
from graphql import (
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.validation import NoDeprecatedCustomRule

from engine.shopify.documents import ENTITIES, all_documents, bulk_query
from tests.conftest import ADMIN_SCHEMA, missing_prerequisite

# Customer.smsMarketingConsent is deprecated in favour of defaultPhoneNumber.marketing*, and these
# three fields are in turn deprecated in favour of `smsMarketingConsent.*` — the field deprecated
# first. There is no non-deprecated path to SMS consent in 2026-07, so these stay allowed.
ALLOWED_DEPRECATED = {
    ("CustomerPhoneNumber", "marketingState"),
    ("CustomerPhoneNumber", "marketingOptInLevel"),
    ("CustomerPhoneNumber", "marketingUpdatedAt"),
}
_DEPRECATED = re.compile(r"^The field (\w+)\.(\w+) is deprecated\.")
DOCUMENTS = all_documents()


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    if not ADMIN_SCHEMA.exists():
        missing_prerequisite(
            f"the real Admin schema is not at {ADMIN_SCHEMA} "
            "(it is read from ../shared/reference/admin-schema and never copied here)"
        )
    return build_schema(ADMIN_SCHEMA.read_text(encoding="utf-8"), assume_valid=True)


def _deprecated(error: object) -> tuple[str, str] | None:
    match = _DEPRECATED.match(str(getattr(error, "message", error)))
    return (match.group(1), match.group(2)) if match else None


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_against_the_real_schema(schema: GraphQLSchema, name: str) -> None:
    errors = validate(schema, parse(DOCUMENTS[name]), [*specified_rules, NoDeprecatedCustomRule])
    unexpected = [e.message for e in errors if _deprecated(e) not in ALLOWED_DEPRECATED]
    assert unexpected == [], f"{name}: {unexpected}"


def test_the_allow_list_is_still_needed(schema: GraphQLSchema) -> None:
    # If Shopify un-deprecates or we stop selecting these, the allow-list must shrink.
    used = set()
    for document in DOCUMENTS.values():
        for error in validate(schema, parse(document), [NoDeprecatedCustomRule]):
            used.add(_deprecated(error))
    assert used == ALLOWED_DEPRECATED


def test_a_deprecated_field_is_caught(schema: GraphQLSchema) -> None:
    # The guard itself works: Customer.email is deprecated and not allow-listed.
    errors = validate(schema, parse("{ customers(first: 1) { nodes { email } } }"),
                      [NoDeprecatedCustomRule])
    assert [_deprecated(e) for e in errors] == [("Customer", "email")]


class _ConnectionCounter(Visitor):
    def __init__(self, info: TypeInfo) -> None:
        super().__init__()
        self.info = info
        self.depth = 0
        self.max_depth = 0
        self.connections = 0

    def enter_field(self, *_: object) -> None:
        field_type = self.info.get_type()
        if field_type is not None and get_named_type(field_type).name.endswith("Connection"):
            self.connections += 1
            self.depth += 1
            self.max_depth = max(self.max_depth, self.depth)

    def leave_field(self, *_: object) -> None:
        field_type = self.info.get_type()
        if field_type is not None and get_named_type(field_type).name.endswith("Connection"):
            self.depth -= 1


@pytest.mark.parametrize("entity", ENTITIES)
def test_bulk_queries_respect_bulk_restrictions(schema: GraphQLSchema, entity: str) -> None:
    for document in (bulk_query(entity), bulk_query(entity, ids_only=True)):
        info = TypeInfo(schema)
        counter = _ConnectionCounter(info)
        visit(parse(document), TypeInfoVisitor(info, counter))
        assert 1 <= counter.connections <= 5
        assert counter.max_depth <= 2


def test_bulk_query_filters_and_ids_only() -> None:
    from datetime import datetime

    since = bulk_query("orders", since=datetime(2026, 10, 1, 12, 30, 5))
    assert "query: \"updated_at:>='2026-10-01T12:30:05Z'\"" in since
    assert "sortKey: UPDATED_AT" in since
    ids = bulk_query("orders", ids_only=True)
    assert "lineItems" not in ids and "__typename id" in ids
    with pytest.raises(ValueError):
        bulk_query("refunds")
