"""The simulator's SDL is a true subset of the real Admin schema (2026-07): every type, field,
argument, input field, enum value and interface it declares exists there with the same type
(and the same default values and deprecation status).

The real schema is read from ../shared/reference/admin-schema beside the checkout; it is never
copied into the project.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    print_ast,
    validate,
)

from engine.shopify import documents
from engine.simulator.schema import SDL_PATH, schema
from tests.conftest import missing_prerequisite

REAL_SCHEMA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" /
               "admin-schema" / "admin-2026-07.graphql")
BUILTIN = {"String", "Int", "Float", "Boolean", "ID"}


@pytest.fixture(scope="module")
def real() -> GraphQLSchema:
    if not REAL_SCHEMA.exists():
        missing_prerequisite(f"the real Admin schema is not available at {REAL_SCHEMA} "
                    "(the checkout must sit beside shared/)")
    return build_schema(REAL_SCHEMA.read_text(encoding="utf-8"), assume_valid=True)


def _default(arg: GraphQLArgument | GraphQLInputField) -> str | None:
    node = arg.ast_node
    value = getattr(node, "default_value", None) if node is not None else None
    return print_ast(value) if value is not None else None


def subset_problems(mine: GraphQLSchema, real: GraphQLSchema) -> list[str]:
    problems: list[str] = []
    for name, ours in mine.type_map.items():
        if name.startswith("__") or name in BUILTIN:
            continue
        theirs = real.type_map.get(name)
        if theirs is None:
            problems.append(f"type {name} does not exist")
            continue
        if type(theirs) is not type(ours):
            problems.append(f"type {name} is a {type(theirs).__name__} in the real schema")
            continue
        if isinstance(ours, GraphQLEnumType):
            assert isinstance(theirs, GraphQLEnumType)
            problems += [f"enum value {name}.{v} does not exist" for v in ours.values
                         if v not in theirs.values]
        if isinstance(ours, GraphQLUnionType):
            assert isinstance(theirs, GraphQLUnionType)
            members = {t.name for t in theirs.types}
            problems += [f"union {name} has no member {t.name}" for t in ours.types
                         if t.name not in members]
        if isinstance(ours, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(theirs, GraphQLObjectType | GraphQLInterfaceType)
            interfaces = {i.name for i in theirs.interfaces}
            problems += [f"{name} does not implement {i.name}" for i in ours.interfaces
                         if i.name not in interfaces]
        if isinstance(ours, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            assert isinstance(theirs, GraphQLObjectType | GraphQLInterfaceType |
                              GraphQLInputObjectType)
            for field_name, field in ours.fields.items():
                where = f"{name}.{field_name}"
                other = theirs.fields.get(field_name)
                if other is None:
                    problems.append(f"field {where} does not exist")
                    continue
                if str(other.type) != str(field.type):
                    problems.append(f"field {where} is {other.type}, not {field.type}")
                if bool(field.deprecation_reason) != bool(other.deprecation_reason):
                    problems.append(f"field {where} deprecation differs")
                if isinstance(field, GraphQLInputField):
                    assert isinstance(other, GraphQLInputField)
                    if _default(field) != _default(other):
                        problems.append(f"input field {where} default differs")
                    continue
                for arg_name, arg in field.args.items():
                    other_arg = other.args.get(arg_name)  # type: ignore[union-attr]
                    if other_arg is None:
                        problems.append(f"argument {where}({arg_name}) does not exist")
                    elif str(other_arg.type) != str(arg.type):
                        problems.append(f"argument {where}({arg_name}) is {other_arg.type}")
                    elif _default(arg) != _default(other_arg):
                        problems.append(f"argument {where}({arg_name}) default "
                                        f"{_default(arg)} != {_default(other_arg)}")
    for root in ("query_type", "mutation_type"):
        ours_root, theirs_root = getattr(mine, root), getattr(real, root)
        if ours_root is not None and (theirs_root is None or ours_root.name != theirs_root.name):
            problems.append(f"{root} is named differently")
    return problems


def test_simulator_schema_is_a_subset_of_the_real_one(real: GraphQLSchema) -> None:
    mine = build_schema(SDL_PATH.read_text(encoding="utf-8"))
    assert subset_problems(mine, real) == []


def test_the_checker_catches_differences(real: GraphQLSchema) -> None:
    wrong = build_schema("""
        schema { query: QueryRoot }
        type QueryRoot { shop: Shop }
        type Shop { name: Int! invented: String }
        enum CurrencyCode { USD ZZZ }
    """)
    problems = subset_problems(wrong, real)
    assert "field QueryRoot.shop is Shop!, not Shop" in problems
    assert "field Shop.name is String!, not Int!" in problems
    assert "field Shop.invented does not exist" in problems
    assert "enum value CurrencyCode.ZZZ does not exist" in problems


def test_engine_documents_validate_against_both_schemas(real: GraphQLSchema) -> None:
    for name, text in documents.all_documents().items():
        assert validate(schema(), parse(text)) == [], name
        assert validate(real, parse(text)) == [], name
