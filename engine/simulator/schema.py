"""The simulator's GraphQL schema: the project's own SDL subset (schema.graphql) plus resolvers.

`schema()` builds it once per process (a few milliseconds) and caches it; the SDL holds names and
types only, and tests/simulator/test_schema_subset.py checks it against the real Admin schema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from graphql import GraphQLInterfaceType, GraphQLSchema, build_schema

from engine.simulator.resolvers import attach

SDL_PATH = Path(__file__).with_name("schema.graphql")


def _resolve_type(value: Any, _info: Any, _type: Any) -> str | None:
    return value.get("__typename") if isinstance(value, dict) else None


@cache
def schema() -> GraphQLSchema:
    built = build_schema(SDL_PATH.read_text(encoding="utf-8"))
    attach(built)
    node = built.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    node.resolve_type = _resolve_type
    return built
