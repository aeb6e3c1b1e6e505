"""Raw SQL for the hot paths (bulk import, webhook apply): the one builder and its quoting.

Peewee spends ~7-10x the database's own time building these statements (stack-notes; measured
here: 7.5 ms of SQL generation per order delivery), so the hot paths build each shape once
(cached) and run it on Peewee's connection. Identifiers come from the models, never from
payloads; `quote` still escapes them properly. Valid on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools

from peewee import PostgresqlDatabase

from engine.persistence.models import database


def quote(name: str) -> str:
    """A quoted SQL identifier (`order` → `"order"`; an embedded quote is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(quote(c) for c in columns)


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


@functools.cache
def upsert_sql(
    table: str,
    columns: tuple[str, ...],
    conflict: tuple[str, ...],
    param: str,
    *,
    keep: tuple[str, ...] = (),
    changed_run: bool = False,
    postgres: bool = False,
) -> str:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET every other column not in `keep`.

    With `changed_run` (the bulk import's bookkeeping, a column of `columns`), that column takes
    the new value only when the row's `updated_at` moved; `postgres` picks the dialect's
    null-safe comparison for it.
    """
    fixed = set(conflict) | set(keep)
    if changed_run:
        fixed.add("changed_run")
    updates = [f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in fixed]
    if changed_run:
        differs = "IS DISTINCT FROM" if postgres else "IS NOT"
        updates.append(
            f'"changed_run" = CASE WHEN {quote(table)}."updated_at" {differs} '
            f'excluded."updated_at" THEN excluded."changed_run" '
            f'ELSE {quote(table)}."changed_run" END'
        )
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {quote(table)} ({_names(columns)}) "
        f"VALUES ({', '.join([param] * len(columns))}) "
        f"ON CONFLICT ({_names(conflict)}) {action}"
    )


@functools.cache  # callers use a few fixed `rows`
def upsert_values_sql(
    table: str,
    columns: tuple[str, ...],
    conflict: tuple[str, ...],
    rows: int,
    param: str = "?",
    *,
    keep: tuple[str, ...] = (),
    changed_run: bool = False,
    postgres: bool = False,
) -> str:
    """`upsert_sql` for `rows` rows in one statement: VALUES (…), (…), … with the parameters of
    every row in order. The same rows, conflict handling (a later row of the batch updates an
    earlier one with the same key, as executemany does) and bookkeeping, in one statement
    execution: SQLite does the whole batch without taking the GIL back per row, so a batch
    written in a thread overlaps the parsing of the next instead of queueing behind it.
    """
    one = upsert_sql(table, columns, conflict, param, keep=keep, changed_run=changed_run,
                     postgres=postgres)
    head, rest = one.split(" VALUES (", 1)
    action = rest[rest.index(") ON CONFLICT (") + 1:]
    row = "(" + ", ".join([param] * len(columns)) + ")"
    return f"{head} VALUES {', '.join([row] * rows)}{action}"


@functools.cache
def insert_sql(table: str, columns: tuple[str, ...], param: str, returning: bool) -> str:
    return (
        f"INSERT INTO {quote(table)} ({_names(columns)}) "
        f"VALUES ({', '.join([param] * len(columns))})" + (' RETURNING "id"' if returning else "")
    )


@functools.cache
def where_sql(verb: str, table: str, columns: tuple[str, ...], keys: tuple[str, ...],
              param: str) -> str:
    """SELECT columns / DELETE / UPDATE SET columns … WHERE every key = param.

    Child tables are indexed on (store_id, parent id), so a delete by store and parent is an
    index search (tests/engine/test_webhooks.py checks the query plans)."""
    where = " AND ".join(f"{quote(k)} = {param}" for k in keys)
    if verb == "SELECT":
        return f"SELECT {_names(columns)} FROM {quote(table)} WHERE {where}"
    if verb == "DELETE":
        return f"DELETE FROM {quote(table)} WHERE {where}"
    sets = ", ".join(f"{quote(c)} = {param}" for c in columns)
    return f"UPDATE {quote(table)} SET {sets} WHERE {where}"
