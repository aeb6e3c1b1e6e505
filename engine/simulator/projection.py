"""Bulk inner queries: validation against Shopify's bulk rules, and JSONL projection.

`compile_bulk(schema, text)` checks the inner query (syntax, schema validity, one top-level
entity connection, at most 5 connections, nesting depth at most 2, no top-level node) and
compiles its selection into plain Python functions (generated source, so the hot path is dict
lookups only) that project a stored record onto exactly the requested fields. Nested connection
nodes become their own lines with `__parentId`. `stream_jsonl` writes the lines lazily;
`count_objects` counts them without building records where it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    parse,
    validate,
    value_from_ast,
)

from engine.simulator.common import ENTITIES, TYPENAMES, parse_iso
from engine.simulator.data import ID_BASE
from engine.simulator.store import STUB_FIELDS, Bounds, Records

MAX_CONNECTIONS = 5
MAX_DEPTH = 2
CHUNK = 1 << 16
Projector = Callable[[dict[str, Any]], dict[str, Any]]


class PlanError(Exception):
    """The inner query is not a valid bulk query (userErrors code INVALID)."""


@dataclass
class Plan:
    entity: str
    project: Projector
    children: list[tuple[str, Projector]]
    fields: frozenset[str]
    sort_by_updated: bool = False
    reverse: bool = False
    bounds: Bounds = field(default_factory=Bounds)
    connections: int = 1


def _truncate(value: str | None, limit: int | None) -> str | None:
    if value is None or limit is None or len(value) <= limit:
        return value
    return value[: max(limit - 3, 0)] + "..."


class _Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.lines: list[str] = []
        self.count = 0
        self.connections = 0
        self.env: dict[str, Any] = {"_truncate": _truncate}

    def fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        out: list[FieldNode] = []
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                out.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                out.extend(self.fields(sel.selection_set))
            elif isinstance(sel, FragmentSpreadNode):
                out.extend(self.fields(self.fragments[sel.name.value].selection_set))
        return out

    def node_selection(self, connection: FieldNode) -> list[FieldNode]:
        nodes: list[FieldNode] = []
        for sub in self.fields(connection.selection_set):
            if sub.name.value == "edges":
                for edge_field in self.fields(sub.selection_set):
                    if edge_field.name.value == "node":
                        nodes.extend(self.fields(edge_field.selection_set))
            elif sub.name.value == "nodes":
                nodes.extend(self.fields(sub.selection_set))
        return nodes

    def function(self, parent: GraphQLObjectType, selection: list[FieldNode], depth: int,
                 children: list[tuple[str, Projector]] | None) -> str:
        """Emit `def _pN(r)` projecting `selection` of `parent`; returns its name."""
        name = f"_p{self.count}"
        self.count += 1
        parts: list[str] = []
        for node in selection:
            field_name = node.name.value
            key = repr(node.alias.value if node.alias else field_name)
            if field_name == "__typename":
                parts.append(f"{key}: r['__typename']")
                continue
            definition = parent.fields[field_name]
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                if field_name == "description" and node.arguments:
                    limit = value_from_ast(node.arguments[0].value, definition.args["truncateAt"]
                                           .type)
                    parts.append(f"{key}: _truncate(r['description'], {limit!r})")
                else:
                    parts.append(f"{key}: r[{field_name!r}]")
                continue
            assert isinstance(named, GraphQLObjectType)
            if named.name.endswith("Connection"):
                self.connections += 1
                if depth + 1 > MAX_DEPTH:
                    raise PlanError("Bulk queries cannot contain connections with a nesting "
                                    f"depth greater than {MAX_DEPTH}.")
                if children is None:
                    raise PlanError("Nested connections are only supported on connection nodes.")
                node_type = named.fields["nodes"].type
                node_named = get_named_type(node_type)
                assert isinstance(node_named, GraphQLObjectType)
                child = self.function(node_named, self.node_selection(node), depth + 1, None)
                # Until build() compiles them, children hold the generated functions' names.
                children.append((field_name, child))  # type: ignore[arg-type]  # see above
                continue
            inner = self.function(named, self.fields(node.selection_set), depth, None)
            source = f"r[{field_name!r}]"
            unwrapped = definition.type.of_type if is_non_null_type(definition.type) else (
                definition.type)
            if is_list_type(unwrapped):
                parts.append(f"{key}: (None if {source} is None else "
                             f"[{inner}(x) for x in {source}])")
            else:
                parts.append(f"{key}: (None if {source} is None else {inner}({source}))")
        self.lines.append(f"def {name}(r):\n    return {{{', '.join(parts)}}}\n")
        return name

    def build(self, names: list[str]) -> list[Projector]:
        namespace = dict(self.env)
        exec("\n".join(self.lines), namespace)  # generated from validated GraphQL names only
        return [namespace[n] for n in names]


def parse_search(query: str | None) -> Bounds:
    """`updated_at:>='…' AND updated_at:<='…'` → Bounds; other terms are ignored."""
    bounds = Bounds()
    if not query:
        return bounds
    for term in query.replace(" and ", " AND ").split(" AND "):
        term = term.strip()
        if not term.startswith("updated_at:"):
            continue
        expr = term[len("updated_at:"):]
        op = next((o for o in (">=", "<=", ">", "<") if expr.startswith(o)), "")
        try:
            moment = parse_iso(expr[len(op):])
        except ValueError:
            continue
        floor = int(moment // 1)
        ceil = floor if moment == floor else floor + 1
        if op in (">=", ""):
            bounds.lo = ceil if bounds.lo is None else max(bounds.lo, ceil)
        elif op == ">":
            bounds.lo = floor + 1 if bounds.lo is None else max(bounds.lo, floor + 1)
        elif op == "<=":
            bounds.hi = floor + 1 if bounds.hi is None else min(bounds.hi, floor + 1)
        else:
            bounds.hi = ceil if bounds.hi is None else min(bounds.hi, ceil)
    return bounds


def compile_bulk(schema: GraphQLSchema, text: str) -> Plan:
    """The plan of a bulk query; compiled once per schema and query text (every store's sync
    of an entity sends the same text, and parsing, validating and generating the projector
    was most of the simulator's CPU under a fleet's syncs). A Plan is never mutated."""
    return _compile_cached(schema, text)


@lru_cache(maxsize=256)
def _compile_cached(schema: GraphQLSchema, text: str) -> Plan:
    try:
        document = parse(text)
    except GraphQLError as exc:
        raise PlanError(f"Invalid bulk query: {exc.message}") from None
    errors = validate(schema, document)
    if errors:
        raise PlanError(f"Invalid bulk query: {errors[0].message}")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        raise PlanError("Bulk queries must contain exactly one query operation.")
    compiler = _Compiler(schema, document)
    roots = [f for f in compiler.fields(operations[0].selection_set)
             if f.name.value != "__typename"]
    if len(roots) != 1:
        raise PlanError("Bulk queries must contain exactly one top-level field.")
    root = roots[0]
    if root.name.value in ("node", "nodes"):
        raise PlanError("Bulk queries cannot contain a top level `node` or `nodes` field.")
    query_type = schema.query_type
    assert query_type is not None
    definition = query_type.fields[root.name.value]
    named = get_named_type(definition.type)
    if not named.name.endswith("Connection"):
        raise PlanError("Bulk queries must contain at least one connection.")
    if root.name.value not in ENTITIES:
        raise PlanError(f"Bulk queries on `{root.name.value}` are not supported by the simulator.")
    args = {a.name.value: value_from_ast(a.value, definition.args[a.name.value].type)
            for a in root.arguments or ()}
    assert isinstance(named, GraphQLObjectType)
    node_type = get_named_type(named.fields["nodes"].type)
    assert isinstance(node_type, GraphQLObjectType)
    children: list[tuple[str, Projector]] = []
    selection = compiler.node_selection(root)
    compiler.connections = 1
    top = compiler.function(node_type, selection, 1, children)
    if compiler.connections > MAX_CONNECTIONS:
        raise PlanError(f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections.")
    built = compiler.build([top, *[c for _f, c in children]])  # type: ignore[list-item]  # names
    return Plan(
        entity=root.name.value,
        project=built[0],
        children=[(f, fn) for (f, _c), fn in zip(children, built[1:], strict=True)],
        fields=frozenset(f.name.value for f in selection),
        sort_by_updated=args.get("sortKey") == "UPDATED_AT",
        reverse=bool(args.get("reverse")),
        bounds=parse_search(args.get("query")),
        connections=compiler.connections,
    )


# -------------------------------------------------------------------- output


def stream_jsonl(records: Records, plan: Plan, limit_roots: int | None = None) -> Iterator[bytes]:
    """The result file in ~64 KiB chunks. Children follow their parent, but every second parent's
    children are held back until after the next parent (so they are not always adjacent)."""
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    project = plan.project
    children = plan.children
    buffer = bytearray()
    held: list[bytes] = []
    items = records.iterate(plan.entity, by_updated=plan.sort_by_updated, reverse=plan.reverse,
                            bounds=plan.bounds, fields=None if children else plan.fields)
    for position, (_key, record) in enumerate(items):
        if limit_roots is not None and position >= limit_roots:
            break
        buffer += dumps(project(record), option=newline)
        if held:
            buffer += b"".join(held)
            held = []
        if children:
            parent = record["id"]
            lines = []
            for field_name, child in children:
                for node in record[field_name]:
                    line = child(node)
                    line["__parentId"] = parent
                    lines.append(dumps(line, option=newline))
            if position % 2:
                held = lines
            else:
                buffer += b"".join(lines)
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if held:
        buffer += b"".join(held)
    if buffer:
        yield bytes(buffer)


@dataclass
class Counts:
    """Running totals of a counting pass (read from the event loop while a thread fills them)."""

    roots: int = 0
    objects: int = 0
    done: bool = False


def count_objects(records: Records, plan: Plan, counts: Counts, limit_roots: int | None = None,
                  stop: Callable[[], bool] = lambda: False) -> Counts:
    """Count root and total objects (of the first `limit_roots` roots, if given)."""
    data = records.data
    slow = plan.entity == "collections" and bool(records.over["products"].deleted)
    child_fields = [f for f, _c in plan.children]
    items = records.iterate(plan.entity, by_updated=plan.sort_by_updated, reverse=plan.reverse,
                            bounds=plan.bounds, fields=None if slow else STUB_FIELDS)
    base = ID_BASE[TYPENAMES[plan.entity]] + 1
    for key, record in items:
        if limit_roots is not None and counts.roots >= limit_roots:
            break
        counts.roots += 1
        counts.objects += 1
        for name in child_fields:
            if name in record:
                counts.objects += len(record[name])
                continue
            counted = data.child_count(plan.entity, key[1] - base, name)
            if counted is None:
                full = records.get(plan.entity, key[1])
                counted = len(full[name]) if full else 0
            counts.objects += counted
        if counts.roots % 4096 == 0 and stop():
            break
    counts.done = True
    return counts
