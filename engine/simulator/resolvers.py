"""Resolvers for the simulator's GraphQL schema.

Records are dicts in the GraphQL shape, so most fields resolve by key (`default_resolver`).
This module adds the fields that need arguments or state: the root connections (paged, sorted,
filtered by `updated_at`), lookups by id, `node(s)`, the shop, bulk operations and webhook
subscriptions, and ACCESS_DENIED for entities the token's scopes do not cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from engine.simulator import bulk
from engine.simulator.common import (
    ENTITY_BY_TYPENAME,
    READ_SCOPE,
    gid,
    iso,
    parse_gid,
)
from engine.simulator.projection import parse_search
from engine.simulator.state import Shop, Subscription, Token, World, has_scope
from engine.simulator.store import (
    Page,
    decode_cursor,
    encode_cursor,
    list_source,
    paginate,
)

COUNTRIES = {
    "US": ("United States", "New York", "New York", "NY", "10001"),
    "CA": ("Canada", "Toronto", "Ontario", "ON", "M5V 2T6"),
    "GB": ("United Kingdom", "London", "England", "ENG", "EC1A 1BB"),
    "DE": ("Germany", "Münster", "Nordrhein-Westfalen", "NW", "48143"),
    "FR": ("France", "Lyon", "Auvergne-Rhône-Alpes", "ARA", "69002"),
    "JP": ("Japan", "Tokyo", "Tokyo", "JP-13", "100-0001"),
    "AU": ("Australia", "Melbourne", "Victoria", "VIC", "3000"),
    "NL": ("Netherlands", "Amsterdam", "Noord-Holland", "NH", "1012 AB"),
    "SE": ("Sweden", "Stockholm", "Stockholm", "AB", "111 22"),
}


@dataclass
class Context:
    world: World
    shop: Shop
    token: Token
    scopes: frozenset[str]
    version: str
    base_url: str
    schema: GraphQLSchema


def default_resolver(source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    if isinstance(source, dict):
        try:
            return source[info.field_name]
        except KeyError:
            return None
    return getattr(source, info.field_name, None)


def _deny(info: GraphQLResolveInfo, entity: str) -> None:
    ctx: Context = info.context
    scope = READ_SCOPE[entity]
    if not has_scope(ctx.scopes, scope):
        raise GraphQLError(
            f"Access denied for {info.field_name} field. Required access: `{scope}` access scope.",
            extensions={"code": "ACCESS_DENIED",
                        "documentation": "https://shopify.dev/api/usage/access-scopes",
                        "requiredAccess": f"`{scope}` access scope."},
        )


def _decode(cursor: str | None, keyed: bool) -> Any:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, keyed=keyed)
    except ValueError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_REQUEST"}) from None


def _connection(page: Page) -> dict[str, Any]:
    edges = [{"cursor": encode_cursor(key), "node": node} for key, node in page.items]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": page.has_next,
            "hasPreviousPage": page.has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _entity_connection(entity: str) -> Any:
    def resolve(_root: Any, info: GraphQLResolveInfo, first: int | None = None,
                after: str | None = None, last: int | None = None, before: str | None = None,
                reverse: bool = False, sortKey: str | None = None, query: str | None = None,
                **_: Any) -> dict[str, Any]:
        _deny(info, entity)
        ctx: Context = info.context
        records = ctx.shop.records
        by_updated = sortKey == "UPDATED_AT"
        bounds = parse_search(query)

        def source(rev: bool, key: Any) -> Any:
            return records.iterate(entity, by_updated=by_updated, reverse=rev, after=key,
                                   bounds=bounds)

        return _connection(paginate(source, first=first, after=_decode(after, True), last=last,
                                    before=_decode(before, True), reverse=reverse))

    return resolve


def _entity_count(entity: str) -> Any:
    def resolve(_root: Any, info: GraphQLResolveInfo, query: str | None = None,
                limit: int | None = 10000, **_: Any) -> dict[str, Any]:
        _deny(info, entity)
        records = info.context.shop.records
        if query:
            bounds = parse_search(query)
            total = sum(1 for _ in records.iterate(entity, by_updated=True, bounds=bounds))
        else:
            total = records.count(entity)
        if limit is not None and total > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": total, "precision": "EXACT"}

    return resolve


def _list_connection(key: str) -> Any:
    def resolve(source: dict[str, Any], _info: GraphQLResolveInfo, first: int | None = None,
                after: str | None = None, last: int | None = None, before: str | None = None,
                reverse: bool = False, **_: Any) -> dict[str, Any]:
        values = list(source[key] or [])
        return _connection(paginate(list_source(values), first=first,
                                    after=_decode(after, False), last=last,
                                    before=_decode(before, False), reverse=reverse))

    return resolve


def _lookup(info: GraphQLResolveInfo, global_id: str) -> dict[str, Any] | None:
    ctx: Context = info.context
    parsed = parse_gid(global_id)
    if parsed is None:
        raise GraphQLError(f"Invalid global id '{global_id}'",
                           extensions={"code": "argumentLiteralsIncompatible"})
    typename = parsed[0]
    if typename == "BulkOperation":
        op = bulk.find(ctx.world, ctx.shop, global_id)
        return op.view() if op else None
    if typename == "WebhookSubscription":
        sub = ctx.shop.subscriptions.get(parsed[1])
        return subscription_view(sub) if sub else None
    if typename == "Shop":
        return shop_view(ctx.shop) if parsed[1] == ctx.shop.number else None
    owner = {"ProductVariant": "products", "LineItem": "orders"}.get(
        typename, ENTITY_BY_TYPENAME.get(typename))
    if owner is None:
        return None
    _deny(info, owner)
    return ctx.shop.records.lookup(typename, global_id)


def _single(typename: str) -> Any:
    def resolve(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
        parsed = parse_gid(id)
        if parsed is not None and parsed[0] != typename:
            return None
        return _lookup(info, id)

    return resolve


def shop_view(shop: Shop) -> dict[str, Any]:
    s = shop.settings
    country, city, province, code, zipcode = COUNTRIES.get(s.country, COUNTRIES["US"])
    address = {"id": gid("ShopAddress", shop.number), "address1": "1 Commerce Way",
               "address2": None, "city": city, "company": None, "country": country,
               "countryCodeV2": s.country, "phone": None, "province": province,
               "provinceCode": code, "zip": zipcode}
    try:
        abbreviation = datetime.now(ZoneInfo(s.timezone)).tzname() or "UTC"
    except (KeyError, ValueError, OSError):
        abbreviation = "UTC"
    return {
        "__typename": "Shop", "id": gid("Shop", shop.number), "name": s.name, "email": s.email,
        "contactEmail": s.email, "myshopifyDomain": shop.domain, "description": None,
        "primaryDomain": {"id": gid("Domain", shop.number), "host": s.primary_domain,
                          "url": f"https://{s.primary_domain}"},
        "url": f"https://{s.primary_domain}", "currencyCode": s.currency,
        "ianaTimezone": s.timezone, "timezoneAbbreviation": abbreviation,
        "plan": {"publicDisplayName": s.plan, "displayName": s.plan,
                 "partnerDevelopment": s.plan in ("Development", "Partner Test"),
                 "shopifyPlus": s.plan.startswith("Plus")},
        "shopAddress": address, "billingAddress": address,
        "createdAt": iso(shop.created_at), "updatedAt": iso(shop.created_at),
    }


def subscription_view(sub: Subscription) -> dict[str, Any]:
    return {
        "__typename": "WebhookSubscription", "id": gid("WebhookSubscription", sub.number),
        "legacyResourceId": str(sub.number), "topic": sub.topic, "uri": sub.uri,
        "callbackUrl": sub.uri, "format": sub.format, "includeFields": sub.include_fields,
        "filter": sub.filter, "name": sub.name, "metafieldNamespaces": [],
        "createdAt": iso(sub.created_at), "updatedAt": iso(sub.created_at),
        "apiVersion": {"handle": sub.api_version, "displayName": sub.api_version,
                       "supported": True},
    }


# -------------------------------------------------------------------- root resolvers


def _shop(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    return shop_view(info.context.shop)


def _installation(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    ctx: Context = info.context
    return {"id": gid("AppInstallation", ctx.shop.number),
            "accessScopes": [{"handle": h, "description": h.replace("_", " ")}
                             for h in sorted(ctx.scopes)]}


def _nodes(_root: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    return [_lookup(info, i) for i in ids]


def _bulk_operation(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    op = bulk.find(info.context.world, info.context.shop, id)
    return op.view() if op else None


def _current_bulk(_root: Any, info: GraphQLResolveInfo, type: str = "QUERY") -> Any:
    if type != "QUERY":
        return None
    ops = bulk.listing(info.context.world, info.context.shop, None)
    return ops[-1].view() if ops else None


def _bulk_operations(_root: Any, info: GraphQLResolveInfo, first: int | None = None,
                     after: str | None = None, last: int | None = None,
                     before: str | None = None, reverse: bool = False,
                     sortKey: str = "CREATED_AT", query: str | None = None) -> dict[str, Any]:
    ops = bulk.listing(info.context.world, info.context.shop, query)
    if sortKey == "COMPLETED_AT":
        ops.sort(key=lambda o: (o.completed_wall is None, o.completed_wall or 0, o.number))
    # Shopify lists newest first by default; `reverse: true` gives oldest first.
    views = [o.view() for o in reversed(ops)]
    return _connection(paginate(list_source(views), first=first, after=_decode(after, False),
                                last=last, before=_decode(before, False), reverse=reverse))


def _webhook_subscriptions(_root: Any, info: GraphQLResolveInfo, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None, reverse: bool = False,
                           topics: list[str] | None = None, uri: str | None = None,
                           callbackUrl: str | None = None, format: str | None = None,
                           **_: Any) -> dict[str, Any]:
    subs = sorted(info.context.shop.subscriptions.values(), key=lambda s: s.number)
    wanted_uri = uri or callbackUrl
    views = [subscription_view(s) for s in subs
             if (not topics or s.topic in topics) and (not wanted_uri or s.uri == wanted_uri)
             and (not format or s.format == format)]
    return _connection(paginate(list_source(views), first=first, after=_decode(after, False),
                                last=last, before=_decode(before, False), reverse=reverse))


def _truncate(source: dict[str, Any], _info: GraphQLResolveInfo,
              truncateAt: int | None = None) -> str:
    text: str = source["description"]
    if truncateAt is not None and len(text) > truncateAt:
        return text[: max(truncateAt - 3, 0)] + "..."
    return text


# -------------------------------------------------------------------- mutations


def _run_bulk(_root: Any, info: GraphQLResolveInfo, query: str,
              groupObjects: bool = False) -> dict[str, Any]:
    ctx: Context = info.context
    return bulk.run_query(ctx.world, ctx.shop, ctx.schema, query=query, version=ctx.version,
                          scopes=ctx.scopes, base_url=ctx.base_url)


def _cancel_bulk(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    return bulk.cancel(info.context.world, info.context.shop, id)


def _create_subscription(_root: Any, info: GraphQLResolveInfo, topic: str,
                         webhookSubscription: dict[str, Any]) -> dict[str, Any]:
    ctx: Context = info.context
    uri = webhookSubscription.get("uri") or webhookSubscription.get("callbackUrl")
    field = ["webhookSubscription", "uri" if "uri" in webhookSubscription else "callbackUrl"]
    problem = None
    if not uri:
        problem = "Address can't be blank"
    elif not isinstance(uri, str) or not uri.startswith(("http://", "https://")) or (
        len(uri) > 2000 or " " in uri
    ):
        problem = "Address is invalid"
    elif any(s.topic == topic and s.uri == uri for s in ctx.shop.subscriptions.values()):
        problem = "Address for this topic has already been taken"
    if problem:
        return {"webhookSubscription": None, "userErrors": [{"field": field, "message": problem}]}
    sub = Subscription(
        number=1_000_000_000 + ctx.world.next_number(), topic=topic, uri=str(uri),
        api_version=ctx.version, created_at=ctx.world.clock.wall(),
        format=webhookSubscription.get("format") or "JSON",
        include_fields=list(webhookSubscription.get("includeFields") or []),
        filter=webhookSubscription.get("filter"), name=webhookSubscription.get("name"),
    )
    ctx.shop.subscriptions[sub.number] = sub
    return {"webhookSubscription": subscription_view(sub), "userErrors": []}


def _delete_subscription(_root: Any, info: GraphQLResolveInfo,
                         id: str) -> dict[str, Any]:
    parsed = parse_gid(id)
    subs = info.context.shop.subscriptions
    if parsed is None or parsed[0] != "WebhookSubscription" or parsed[1] not in subs:
        return {"deletedWebhookSubscriptionId": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]}
    del subs[parsed[1]]
    return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def attach(schema: GraphQLSchema) -> None:
    """Install the resolvers on a freshly built schema."""
    query = schema.query_type
    mutation = schema.mutation_type
    assert query is not None and mutation is not None
    roots: dict[str, Any] = {
        "shop": _shop, "currentAppInstallation": _installation, "node": _single_any,
        "nodes": _nodes, "bulkOperation": _bulk_operation, "currentBulkOperation": _current_bulk,
        "bulkOperations": _bulk_operations, "webhookSubscriptions": _webhook_subscriptions,
        "webhookSubscription": _single("WebhookSubscription"),
        "customer": _single("Customer"), "order": _single("Order"),
        "product": _single("Product"), "collection": _single("Collection"),
    }
    for entity in ("customers", "orders", "products", "collections"):
        roots[entity] = _entity_connection(entity)
        roots[f"{entity}Count"] = _entity_count(entity)
    for name, resolver in roots.items():
        query.fields[name].resolve = resolver
    for name, resolver in {"bulkOperationRunQuery": _run_bulk, "bulkOperationCancel": _cancel_bulk,
                           "webhookSubscriptionCreate": _create_subscription,
                           "webhookSubscriptionDelete": _delete_subscription}.items():
        mutation.fields[name].resolve = resolver
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_ in (query, mutation):
            continue
        for name, definition in type_.fields.items():
            if definition.type.__str__().endswith("Connection!"):
                definition.resolve = _list_connection(name)
    collection = schema.get_type("Collection")
    assert isinstance(collection, GraphQLObjectType)
    collection.fields["description"].resolve = _truncate


def _single_any(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _lookup(info, id)
