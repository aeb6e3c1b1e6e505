"""GraphQL query cost, after Shopify's published model (shopify-api.md §3.2).

Scalars and enums cost 0, objects 1, a connection 2 + (first|last) × the cost of one node,
a mutation field 10. `requested_cost` walks the document (and enforces that every connection
has `first` or `last` ≤ 250); `actual_cost` walks it again over the returned data, counting the
nodes actually returned, so the difference can be refunded to the bucket.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MAX_PAGE = 250
MUTATION_COST = 10
Composite = GraphQLObjectType | GraphQLInterfaceType


class CostProblem(Exception):
    """A query the cost analysis refuses (missing or oversized page size)."""


def _int_arg(node: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            raw = variables.get(value.name.value)
            return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    return None


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(self, selection_set: SelectionSetNode | None,
               parent: Composite) -> list[tuple[FieldNode, Composite]]:
        out: list[tuple[FieldNode, Composite]] = []
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                out.append((sel, parent))
                continue
            if isinstance(sel, InlineFragmentNode):
                inner, condition = sel.selection_set, sel.type_condition
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in self.fragments:
                fragment = self.fragments[sel.name.value]
                inner, condition = fragment.selection_set, fragment.type_condition
            else:
                continue
            target = self.schema.get_type(condition.name.value) if condition else parent
            if isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
                out.extend(self.fields(inner, target))
        return out

    def cost(self, selection_set: SelectionSetNode | None, parent: Composite,
             data: Any, actual: bool) -> int:
        total = 0
        for node, owner in self.fields(selection_set, parent):
            name = node.name.value
            if name.startswith("__") or name not in owner.fields:
                continue
            key = node.alias.value if node.alias else name
            if actual and (not isinstance(data, dict) or key not in data):
                continue
            value = data[key] if actual else None
            named = get_named_type(owner.fields[name].type)
            if is_leaf_type(named) or not isinstance(named, Composite):
                continue
            if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and (
                "pageInfo" in named.fields
            ):
                total += self.connection(node, named, value, actual)
            elif actual and isinstance(value, list):
                total += sum(1 + self.cost(node.selection_set, named, v, True) for v in value)
            else:
                total += 1 + (self.cost(node.selection_set, named, value, actual)
                              if not actual or value is not None else 0)
        return total

    def connection(self, node: FieldNode, named: GraphQLObjectType, value: Any,
                   actual: bool) -> int:
        first = _int_arg(node, "first", self.variables)
        last = _int_arg(node, "last", self.variables)
        if not actual:
            if first is None and last is None:
                raise CostProblem("you must provide one of first or last")
            for label, size in (("first", first), ("last", last)):
                if size is not None and not 0 <= size <= MAX_PAGE:
                    raise CostProblem(
                        f"The value of the `{label}` argument must be between 0 and {MAX_PAGE}.")
        node_type = get_named_type(named.fields["nodes"].type)
        assert isinstance(node_type, GraphQLObjectType | GraphQLInterfaceType)
        selections: list[tuple[str, SelectionSetNode | None]] = []
        for sub, _owner in self.fields(node.selection_set, named):
            if sub.name.value == "nodes":
                selections.append(("nodes", sub.selection_set))
            elif sub.name.value == "edges":
                for inner, _o in self.fields(sub.selection_set, _edge_type(named)):
                    if inner.name.value == "node":
                        selections.append(("edges", inner.selection_set))
        if not actual:
            size = first if first is not None else (last or 0)
            per_node = max((1 + self.cost(sel, node_type, None, False) for _k, sel in selections),
                           default=1)
            return 2 + size * per_node
        total = 2
        if not isinstance(value, dict):
            return total
        for kind, sel in selections:
            key_items = value.get(kind) or []
            items = [e.get("node") for e in key_items] if kind == "edges" else key_items
            total += sum(1 + self.cost(sel, node_type, item, True) for item in items
                         if item is not None)
        return total


def _edge_type(connection: GraphQLObjectType) -> GraphQLObjectType:
    edge = get_named_type(connection.fields["edges"].type)
    assert isinstance(edge, GraphQLObjectType)
    return edge


def _root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> GraphQLObjectType:
    root = schema.mutation_type if operation.operation == OperationType.MUTATION else (
        schema.query_type)
    assert root is not None
    return root


def query_cost(schema: GraphQLSchema, document: Any, operation: OperationDefinitionNode,
               variables: dict[str, Any], data: Any = None, *, actual: bool = False) -> int:
    """Requested cost (raises CostProblem) or, with actual=True, the cost of `data`."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    walker = _Walker(schema, fragments, variables)
    root = _root(schema, operation)
    if operation.operation == OperationType.MUTATION:
        count = sum(1 for f, _o in walker.fields(operation.selection_set, root)
                    if not f.name.value.startswith("__"))
        if actual and data is None:
            return 0
        return MUTATION_COST * count
    if actual and data is None:
        return sum(1 for f, _o in walker.fields(operation.selection_set, root)
                   if not f.name.value.startswith("__"))
    return walker.cost(operation.selection_set, root, data, actual)
