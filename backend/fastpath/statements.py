"""Model instances read by a plain statement that is written once per process.

For the few look-ups made on every request or batch (the token's device with its
user, a report's category and grid): the ORM compiles a query afresh each time,
which costs about three times what the database takes to answer it. A ``Select``
is built from the models' fields, so it follows the schema; its rows become
instances through ``Model.from_db`` with the same converters the ORM applies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from django.db import connection, models
from psycopg.types.numeric import Int8


class Select:
    """``SELECT <every column of each model> FROM <first> t0 JOIN <second> t1 ON … WHERE …``.

    ``where`` and each of ``joins`` (one per model after the first) name the tables as
    ``{0}``, ``{1}``… and take parameters as ``%s``; ``defer`` names fields (by attname)
    left unread, which load on first access as with ``QuerySet.defer``."""

    def __init__(self, *models_: type[models.Model], where: str, joins: Sequence[str] = (), defer: Sequence[str] = ()):
        if len(joins) != len(models_) - 1:
            raise ValueError("one join condition per model after the first")
        self.models = models_
        self.where = where
        self.joins = tuple(joins)
        self.defer = frozenset(defer)
        self._vendor: str | None = None

    def _compile(self) -> None:
        # The first model's relation to each joined one, where it has one: found once here,
        # not for every row read.
        self._relations = [
            next((f for f in self.models[0]._meta.concrete_fields if f.is_relation and f.related_model is other), None)
            for other in self.models[1:]
        ]
        quote = connection.ops.quote_name
        aliases = [f"t{position}" for position in range(len(self.models))]
        columns, self._parts = [], []
        for model, alias in zip(self.models, aliases):
            fields = [f for f in model._meta.concrete_fields if f.attname not in self.defer or f.primary_key]
            converters = []
            for position, field in enumerate(fields, start=len(columns)):
                column = field.get_col(alias)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    converters.append((position, column, found))
            self._parts.append(
                (model, [f.attname for f in fields], len(columns), len(columns) + len(fields), converters)
            )
            columns.extend(f"{alias}.{quote(f.column)}" for f in fields)
        tables = [f"{quote(model._meta.db_table)} {alias}" for model, alias in zip(self.models, aliases)]
        sql = f"SELECT {', '.join(columns)} FROM {tables[0]}"
        for table, condition in zip(tables[1:], self.joins):
            sql += f" JOIN {table} ON {condition.format(*aliases)}"
        self._sql = f"{sql} WHERE {self.where.format(*aliases)} LIMIT 1"
        self._vendor = connection.vendor

    @property
    def sql(self) -> str:
        if self._vendor != connection.vendor:
            self._compile()
        return self._sql

    def one(self, params: Sequence) -> tuple[models.Model, ...] | None:
        """The first row's instances, one per model (joined ones cached on the first
        through its relation when it has one), or None."""
        sql = self.sql
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        instances = []
        for model, attnames, start, end, converters in self._parts:
            for position, column, found in converters:
                value = row[position]
                for convert in found:
                    value = convert(value, column, connection)
                row[position] = value
            instances.append(model.from_db(connection.alias, attnames, row[start:end]))
        first = instances[0]
        for relation, other in zip(self._relations, instances[1:]):
            if relation is not None and getattr(first, relation.attname) == other.pk:
                relation.set_cached_value(first, other)
        return tuple(instances)


def run_prepared(sql: str, params: Sequence) -> list[tuple]:
    """The rows of a statement PostgreSQL plans once per connection and then runs by its
    generic plan (the connection is opened with ``plan_cache_mode=force_generic_plan``,
    which only touches prepared statements: Django's own are not). For statements whose
    planning costs more than their running, like the pull's merge of one ordered branch
    per bucket: planning its 47 branches took 8 ms, running them 4. Integers go as
    bigint, so a statement's parameter types, and with them its prepared form, do not
    change as the numbers grow. Elsewhere (SQLite) it is an ordinary query."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [Int8(value) if type(value) is int else value for value in params], prepare=True)
        return cursor.fetchall()


STREAM_CHUNK = 100  # rows
CHUNKED_ROWS = psycopg.pq.version() >= 170000  # libpq's chunked rows mode


def streamed(sql: str, params: Sequence, *, binary: bool = False) -> Iterator[tuple]:
    """The rows of a statement as PostgreSQL sends them, a hundred at a time: what the
    caller does with each chunk overlaps the database producing the next, on another
    core. Reading a page of 1,000 events and making their dicts took 29 ms as one result
    and 18 ms streamed. With a libpq older than 17 (no chunked rows mode), or elsewhere
    (SQLite), the rows come as one result. ``binary``: numbers arrive as machine values,
    not as text to parse (text columns are the same either way)."""
    if connection.vendor != "postgresql" or not CHUNKED_ROWS:
        yield from run_prepared(sql, params)
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield from cursor.stream(sql, params, size=STREAM_CHUNK, binary=binary)
