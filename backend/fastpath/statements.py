"""Model instances read by a plain statement that is written once per process.

For the few look-ups made on every request or batch (the token's device with its
user, a report's category and grid): the ORM compiles a query afresh each time,
which costs more than the database takes to answer it (backend/fastpath/README.md
has the figures). A ``Select``
is built from the models' fields, so it follows the schema; its rows become
instances through ``Model.from_db`` with the same converters the ORM applies.

Every statement here goes through Django's cursor wrapper (``through_django``), so
it shows wherever the ORM's queries do.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.utils import CursorDebugWrapper
from psycopg.types.numeric import Int8

from backend.core.db_router import read_connection

# The JSON functions an ``extra`` column of a ``Select`` names, on each database.
JSON_FUNCTIONS = {
    "postgresql": {"json_array": "json_build_array", "json_agg": "json_agg"},
    "sqlite": {"json_array": "json_array", "json_agg": "json_group_array"},
}


class Select:
    """``SELECT <every column of each model> FROM <first> t0 JOIN <second> t1 ON … WHERE …``.

    ``where`` and each of ``joins`` (one per model after the first) name the tables as
    ``{0}``, ``{1}``… and take parameters as ``%s``; ``defer`` names fields (by attname)
    left unread, which load on first access as with ``QuerySet.defer``. ``lock``: the
    first model's row is locked until the transaction ends (``FOR UPDATE OF t0`` on
    PostgreSQL; SQLite locks the whole database for a write anyway, as the ORM's
    ``select_for_update`` does nothing there). ``extra``: more columns, each a JSON value
    made by a subquery (read with the row instead of by a statement of its own), answered
    after the instances, decoded; they name the tables as ``{0}``… and ``{Model}`` for the
    models of ``extra_models``, and the JSON functions of the database as ``{json_array}``
    and ``{json_agg}``."""

    def __init__(
        self,
        *models_: type[models.Model],
        where: str,
        joins: Sequence[str] = (),
        defer: Sequence[str] = (),
        lock: bool = False,
        extra: Sequence[str] = (),
        extra_models: dict[str, type[models.Model]] | None = None,
    ):
        if len(joins) != len(models_) - 1:
            raise ValueError("one join condition per model after the first")
        self.models = models_
        self.where = where
        self.joins = tuple(joins)
        self.defer = frozenset(defer)
        self.lock = lock
        self.extra = tuple(extra)
        self.extra_models = extra_models or {}
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
        self._extra_start = len(columns)
        names = {name: quote(m._meta.db_table) for name, m in self.extra_models.items()}
        columns.extend(
            expression.format(*aliases, **names, **JSON_FUNCTIONS[connection.vendor]) for expression in self.extra
        )
        tables = [f"{quote(model._meta.db_table)} {alias}" for model, alias in zip(self.models, aliases)]
        sql = f"SELECT {', '.join(columns)} FROM {tables[0]}"
        for table, condition in zip(tables[1:], self.joins):
            sql += f" JOIN {table} ON {condition.format(*aliases)}"
        self._sql = f"{sql} WHERE {self.where.format(*aliases)} LIMIT 1"
        if self.lock and connection.features.has_select_for_update_of:
            self._sql += " FOR UPDATE OF t0"
        self._vendor = connection.vendor

    @property
    def sql(self) -> str:
        if self._vendor != connection.vendor:
            self._compile()
        return self._sql

    def one(self, params: Sequence) -> tuple | None:
        """The first row's instances, one per model (joined ones cached on the first
        through its relation when it has one), then the ``extra`` values, or None."""
        rows = run_bound(self.sql, params)
        if not rows:
            return None
        row = list(rows[0])
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
        extras = [json.loads(v) if isinstance(v, str) else v for v in row[self._extra_start :]]
        return (*instances, *extras)


class Plain:
    """A statement of ours written once per process, answering rows as tuples. ``sql``
    names each table as ``{Model}`` for a model given by keyword (``Plain("SELECT
    f.user_id FROM {Follow} f WHERE f.event_id = %s", Follow=Follow)``), so the names
    follow the schema. For a look-up every step makes whose ORM form costs more to
    compile than to run."""

    def __init__(self, sql: str, **models_: type[models.Model]):
        self.template = sql
        self.models = models_
        self._vendor: str | None = None

    @property
    def sql(self) -> str:
        if self._vendor != connection.vendor:
            quote = connection.ops.quote_name
            self._sql = self.template.format(**{name: quote(m._meta.db_table) for name, m in self.models.items()})
            self._vendor = connection.vendor
        return self._sql

    def rows(self, params: Sequence) -> list[tuple]:
        return run_bound(self.sql, params)


def run_bound(sql: str, params: Sequence) -> list[tuple]:
    """The rows of a statement of ours (none for a write without ``RETURNING``) on the
    primary, in the current transaction. On PostgreSQL its values are bound by the
    server: sent apart from the text, each dumped by psycopg's C adapters (Django's
    cursors print every value into the text in Python, arrays element by element: in
    cProfile of a step that printing was the largest cost of its statements), and the
    statement is prepared once it has run a few times on the connection
    (``prepare_threshold``). Integers go as bigint, so a statement's parameter types, and
    with them its prepared form, do not change as the numbers grow. Elsewhere (SQLite)
    an ordinary statement."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.fetchall() if cursor.description else []
    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:

        def run(sql, params):
            cursor.execute(sql, params)
            result = cursor.pgresult  # ``description`` would build a column object for each column
            return cursor.fetchall() if result is not None and result.nfields else []

        return through_django(cursor, sql, [Int8(v) if type(v) is int else v for v in params], run, db=db)


def through_django(raw, sql: str, params, run: Callable, *, shown: str | None = None, db=None):
    """``run(sql, params)`` on a psycopg cursor of ours, as Django runs its own
    statements: through the connection's ``execute_wrapper``s, with database errors
    translated to ``django.db`` ones, and, when queries are logged (``DEBUG``,
    ``CaptureQueriesContext``, debug tools), recorded in ``connection.queries``. The
    fast paths that need psycopg directly (prepared statements, streamed rows, binary
    COPY) would otherwise be invisible wherever the ORM's queries are seen. With no
    logging and no wrappers (production) it adds two attribute reads and the error
    translation's context. ``shown``: the text logged, when it is not the statement
    with its parameters in place. ``db``: the connection ``raw`` belongs to (the
    primary's unless given)."""
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]  # once: each use of the ``connection`` proxy looks it up again
    db.validate_no_broken_transaction()
    logged = db.queries_logged
    if not logged and not db.execute_wrappers:
        with db.wrap_database_errors:
            return run(sql, params)
    wrapper = db.make_debug_cursor(raw) if logged else db.make_cursor(raw)

    def execute(sql, params, many, context):
        with db.wrap_database_errors:
            return run(sql, params)

    for outer in reversed(db.execute_wrappers):
        execute = functools.partial(outer, execute)
    context = {"connection": db, "cursor": wrapper}
    if not logged:
        return execute(sql, params, False, context)
    if shown is None:  # as Django logs its own statements: the values in place
        compose = getattr(db.ops, "compose_sql", None)  # PostgreSQL's; SQLite never comes here
        shown = compose(sql, params) if params and compose else sql
    assert isinstance(wrapper, CursorDebugWrapper)
    with wrapper.debug_sql(shown):
        return execute(sql, params, False, context)


class _PreparedCursor(psycopg.Cursor):
    """A server-side binding cursor whose statements psycopg prepares (once per
    connection, by their text)."""

    def execute(self, query, params=None, **options):
        return super().execute(query, params, prepare=True, **options)


def run_prepared(sql: str, params: Sequence) -> list[tuple]:
    """The rows of a statement PostgreSQL plans once per connection and then runs by its
    generic plan (the connection is opened with ``plan_cache_mode=force_generic_plan``,
    which only touches prepared statements: Django's own are not). For statements whose
    planning costs more than their running, like the pull's merge of one ordered branch
    per bucket (backend/fastpath/README.md). Integers go as bigint, so a statement's
    parameter types, and with them its prepared form, do not change as the numbers
    grow. Elsewhere (SQLite) it is an ordinary query. On the replica inside
    ``reads_may_lag`` (backend/core/db_router.py)."""
    db = read_connection()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    db.ensure_connection()
    with _PreparedCursor(db.connection) as cursor:
        params = [Int8(value) if type(value) is int else value for value in params]
        return through_django(cursor, sql, params, lambda sql, params: cursor.execute(sql, params).fetchall(), db=db)


STREAM_CHUNK = 100  # rows
CHUNKED_ROWS = psycopg.pq.version() >= 170000  # libpq's chunked rows mode


def streamed(sql: str, params: Sequence, *, binary: bool = False) -> Iterator[tuple]:
    """The rows of a statement as PostgreSQL sends them, a hundred at a time: what the
    caller does with each chunk overlaps the database producing the next, on another
    core (a page of events is read and made into dicts faster streamed than as one
    result: backend/fastpath/README.md). With a libpq older than 17 (no chunked rows
    mode), or elsewhere (SQLite), the rows come as one result. ``binary``: numbers
    arrive as machine values, not as text to parse (text columns are the same either
    way). On the replica inside ``reads_may_lag`` (backend/core/db_router.py)."""
    db = read_connection()
    if db.vendor != "postgresql" or not CHUNKED_ROWS:
        yield from run_prepared(sql, params)
        return
    db.ensure_connection()
    with psycopg.Cursor(db.connection) as cursor:

        def start(sql, params):
            # The statement is sent, and its first chunk awaited, inside Django's wrapper:
            # what it records is the statement's own time, not the caller's between chunks.
            rows = cursor.stream(sql, params, size=STREAM_CHUNK, binary=binary)
            return next(rows, None), rows

        first, rest = through_django(cursor, sql, list(params), start, db=db)
        if first is None:
            return
        yield first
        yield from rest
