"""POST /{shop}/admin/api/{version}/graphql.json: versions, auth, cost, throttling, execution.

Order of checks, as a client sees them: unknown version → 404; unknown shop → 404; injected
latency/5xx; token → 401; frozen → 402; locked → 423; body → 400; parse and validation errors →
200 with `errors`; page-size rules; MAX_COST_EXCEEDED; THROTTLED (200, or 429 with Retry-After
when the shop's `throttle_mode` is "429"); then execution, refunding requested − actual cost.
"""

from __future__ import annotations

import math
import re
import uuid
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import Response

from engine.simulator.common import BodyError, json_response, read_body
from engine.simulator.cost import CostProblem, query_cost
from engine.simulator.gate import authenticate, faults, unknown_shop
from engine.simulator.resolvers import Context, default_resolver
from engine.simulator.schema import schema
from engine.simulator.state import Shop, World

SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
MAX_QUERY_COST = 1000
_VERSION = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_UNDEFINED_FIELD = re.compile(r"Cannot query field '(\w+)' on type '(\w+)'\.")
_UNKNOWN_ARGUMENT = re.compile(r"Unknown argument '(\w+)' on field '(\w+)\.(\w+)'\.")


def served_version(requested: str) -> str | None:
    """The version that serves `requested` (falls forward to the oldest), or None (404)."""
    if requested in SUPPORTED_VERSIONS or requested == "unstable":
        return requested
    if _VERSION.fullmatch(requested):
        return SUPPORTED_VERSIONS[0]
    return None


def _format(error: GraphQLError, default_code: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    match = _UNDEFINED_FIELD.match(error.message)
    if match:
        formatted["message"] = f"Field '{match[1]}' doesn't exist on type '{match[2]}'"
        extensions.update(code="undefinedField", typeName=match[2], fieldName=match[1])
    elif (match := _UNKNOWN_ARGUMENT.match(error.message)) is not None:
        formatted["message"] = (f"Field '{match[3]}' doesn't accept argument '{match[1]}'")
        extensions.update(code="argumentNotAccepted", name=match[3], typeName="Field",
                          argumentName=match[1])
    extensions.setdefault("code", default_code)
    formatted["extensions"] = extensions
    return formatted


def _cost(requested: int | None, actual: int | None, shop: Shop) -> dict[str, Any]:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": shop.bucket.status()}}


async def graphql_endpoint(request: Request) -> Response:
    world: World = request.app.state.world
    version = served_version(request.path_params["version"])
    if version is None:
        return unknown_shop()
    shop = world.shops.get(request.path_params["shop"])
    if shop is None:
        return unknown_shop()
    headers = {"X-Shopify-API-Version": version, "X-Request-Id": str(uuid.uuid4())}
    refused = await faults(world, shop)
    if refused is not None:
        refused.headers.update(headers)
        return refused
    token = authenticate(world, shop, request)
    if isinstance(token, Response):
        token.headers.update(headers)
        return token
    try:
        query, variables, operation_name = await _read_request(request)
    except BodyError as exc:
        exc.response.headers.update(headers)
        return exc.response
    body = _run(world, shop, request, version, token, query, variables, operation_name)
    status = 200
    if body.pop("_status", None) == 429:
        status = 429
        headers["Retry-After"] = body.pop("_retry_after")
    return json_response(body, status, headers)


async def _read_request(request: Request) -> tuple[str, dict[str, Any], str | None]:
    missing = json_response({"errors": {"query": "Required parameter missing or invalid"}}, 400)
    raw = await read_body(request)
    if request.headers.get("content-type", "").startswith("application/graphql"):
        return raw.decode("utf-8", "replace"), {}, None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BodyError(missing) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not (
        payload["query"].strip()
    ):
        raise BodyError(missing)
    variables = payload.get("variables") or {}
    operation_name = payload.get("operationName")
    if not isinstance(variables, dict) or not (
        operation_name is None or isinstance(operation_name, str)
    ):
        raise BodyError(json_response(
            {"errors": {"variables": "Required parameter missing or invalid"}}, 400))
    return payload["query"], variables, operation_name


@lru_cache(maxsize=512)
def _prepare(query: str) -> tuple[DocumentNode | GraphQLError, list[GraphQLError]]:
    """Parse and validate once per distinct query text (clients repeat the same documents)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return exc, []
    return document, validate(schema(), document)


def _run(world: World, shop: Shop, request: Request, version: str, token: Any, query: str,
         variables: dict[str, Any], operation_name: str | None) -> dict[str, Any]:
    built = schema()
    document, problems = _prepare(query)
    if isinstance(document, GraphQLError):
        return {"errors": [_format(document, "GRAPHQL_PARSE_FAILED")],
                "extensions": _cost(0, 0, shop)}
    if problems:
        return {"errors": [_format(e, "GRAPHQL_VALIDATION_FAILED") for e in problems],
                "extensions": _cost(0, 0, shop)}
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        message = ("An operation name is required" if operation_name is None
                   else f"No operation named \"{operation_name}\"")
        return {"errors": [{"message": message, "extensions": {"code": "OPERATION_NOT_FOUND"}}],
                "extensions": _cost(0, 0, shop)}
    try:
        requested = query_cost(built, document, operation, variables)
    except CostProblem as exc:
        return {"errors": [{"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}],
                "extensions": _cost(0, 0, shop)}
    if requested > MAX_QUERY_COST:
        return {"errors": [{
            "message": f"Query cost is {requested}, which exceeds the single query max cost "
                       f"limit ({MAX_QUERY_COST}).",
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                           "maxCost": MAX_QUERY_COST,
                           "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": _cost(requested, None, shop)}
    if not shop.bucket.take(requested):
        body: dict[str, Any] = {"errors": [{
            "message": "Throttled",
            "extensions": {"code": "THROTTLED",
                           "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": _cost(requested, None, shop)}
        if shop.settings.throttle_mode == "429":
            wait = (requested - shop.bucket.available()) / max(shop.bucket.restore, 0.001)
            body["_status"] = 429
            body["_retry_after"] = f"{max(1.0, math.ceil(wait * 10) / 10):.1f}"
        return body
    context = Context(world=world, shop=shop, token=token,
                      scopes=world.effective_scopes(shop, token), version=version,
                      base_url=world.public_url or str(request.base_url).rstrip("/"),
                      schema=built)
    result = execute(built, document, context_value=context, variable_values=variables,
                     operation_name=operation_name, field_resolver=default_resolver)
    assert not hasattr(result, "__await__")
    data = result.data
    errors = result.errors
    actual = min(requested, query_cost(built, document, operation, variables, data, actual=True))
    shop.bucket.refund(requested - actual)
    out: dict[str, Any] = {}
    if errors:
        out["errors"] = [_format(e, "INTERNAL_SERVER_ERROR" if e.original_error and not
                                 isinstance(e.original_error, GraphQLError) else "BAD_REQUEST")
                         for e in errors]
    out["data"] = data
    out["extensions"] = _cost(requested, actual, shop)
    return out
