"""A kind's rows as a phone receives them, read fast: one SQL statement compiled once
by the ORM, then plain tuples converted column by column.

A page of 1,000 events through ``values()`` spent more time in Django's per-row and
per-parameter machinery (UUID objects made and printed again, JSON decoded by
converters, every id of ``pk__in`` checked) than in the database. Here no value
becomes a Python object only to be printed again: PostgreSQL prints timestamps as
ISO-8601 text in UTC and UUIDs as their usual text; SQLite's stored text is finished
by two string operations in Python, cheaper there than SQLite's string functions.
On PostgreSQL the rows are streamed in binary (``backend.fastpath.statements.streamed``):
numbers come as machine values, stored JSON as its text.

The values are the ones ``canonical_json`` prints exactly like Python's ``json``
module: a float that ``json`` would write in exponent form (below 1e-4 or from 1e16)
is handed over already printed (``backend.fastpath.canonical``), because the checksum a phone
recomputes is over Python's form (docs/sync.md, "Applying a page"). The figures that chose
each step: README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache, cached_property

from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    DateTimeField,
    F,
    FloatField,
    ForeignKey,
    Func,
    JSONField,
    UUIDField,
)

from backend.core.db_router import read_connection
from backend.fastpath.canonical import load_json, load_json_of_strings, safe_float
from backend.fastpath.statements import streamed
from sync.entities import EntityKind


class IsoTime(Func):
    """A timestamp as ISO-8601 text in UTC. PostgreSQL prints it (``to_char``): a page
    of events holds thousands, and parsing each into a ``datetime`` only to print it
    again was a large part of a page's cost. SQLite hands over its stored text untouched
    (the cast keeps Django's converter from parsing it) and ``sqlite_time`` finishes
    it in Python: as SQL string functions, a row's timestamps and UUID cost SQLite
    more than reading the row does."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(%(expressions)s AS TEXT)", **extra)


def sqlite_time(value: str | None) -> str | None:
    """SQLite's stored UTC text ("YYYY-MM-DD HH:MM:SS[.ffffff]") as PostgreSQL prints
    it above: the fraction padded to six digits, then the offset."""
    if value is None:
        return None
    return (value.replace(" ", "T") + ".000000")[:26] + "+00:00"


class UuidText(Func):
    """A UUID as its usual text (``8-4-4-4-12``): PostgreSQL prints it; SQLite keeps 32
    hex digits, which ``sqlite_uuid`` splits (making a ``uuid.UUID`` of each only to
    print it was a noticeable part of a page)."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)::text", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="%(expressions)s", **extra)


def sqlite_uuid(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower()
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


class JsonText(Func):
    """Stored JSON as its text on PostgreSQL, where rows come in binary: ``load_json``
    parses it (and checks its numbers), as for SQLite's text."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)::text", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="%(expressions)s", **extra)


def _boolean(value):
    return None if value is None else bool(value)


# --- reading ---------------------------------------------------------------------


def _final_field(model, path: str):
    """The model field a ``values()`` name ends at (``category__code``, ``grid_id``)."""
    *hops, last = path.split("__")
    for hop in hops:
        model = model._meta.get_field(hop).related_model
    return model._meta.get_field(last)


CHUNK = 1000  # ids per statement (a page at most; SQLite limits parameters)


class Reader:
    """SELECT <a kind's sent fields> FROM <its table> WHERE pk IN <ids>, for one vendor."""

    def __init__(self, kind: EntityKind, vendor: str):
        self.kind = kind
        model = kind.model
        renames = dict(kind.rename)
        postgres = vendor == "postgresql"
        expressions, self.names, converters = {}, [], []
        for position, name in enumerate(kind.fields):
            field = _final_field(model, name)
            target = field.target_field if isinstance(field, ForeignKey) else field
            expression, convert = F(name), None
            if isinstance(field, DateTimeField):
                expression = IsoTime(F(name))
                convert = None if postgres else sqlite_time
            elif isinstance(target, UUIDField):
                expression = UuidText(F(name))
                convert = None if postgres else sqlite_uuid
            elif isinstance(field, BooleanField) and not postgres:
                convert = _boolean
            elif isinstance(field, JSONField):
                expression = JsonText(F(name))
                convert = load_json_of_strings if name in kind.strings_json else load_json
            elif isinstance(field, FloatField):
                convert = safe_float
            expressions[f"_c{position}"] = expression
            self.names.append(renames.get(name, name))
            converters.append(convert)
        self.converters = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
        sql, params = model.objects.order_by().values(**expressions).query.sql_with_params()
        assert not params and " WHERE " not in sql, sql
        pk = model._meta.pk
        column = f"{connection.ops.quote_name(model._meta.db_table)}.{connection.ops.quote_name(pk.column)}"
        self.uuid_pk = isinstance(pk, UUIDField)
        if postgres:
            self.sql = f"{sql} WHERE {column} = ANY(string_to_array(%s, ',')::{pk.db_type(connection)}[])"
        else:
            self.sql = sql + f" WHERE {column} IN ({{}})"
        self.postgres = postgres

    def rows(self, ids: list[str]) -> Iterable[dict]:
        """The rows of these ids (as the change log writes them), in no order."""
        found = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            if self.postgres:  # one text parameter: adapting a list of 1,000 costs more
                found.extend(map(self.as_dict, streamed(self.sql, [",".join(chunk)], binary=True)))
            else:
                keys = [i.replace("-", "") for i in chunk] if self.uuid_pk else [int(i) for i in chunk]
                with read_connection().cursor() as cursor:
                    cursor.execute(self.sql.format(", ".join(["%s"] * len(keys))), keys)
                    found.extend(map(self.as_dict, cursor.fetchall()))
        return found

    @cached_property
    def as_dict(self) -> Callable[[tuple], dict]:
        """One row as the dict sent, by a function written for this kind: a dict display
        with each converter called in place costs less than converting a list and
        zipping it with the names, a thousand times a page (as ``dataclasses`` does,
        the source is generated once and compiled)."""
        convert_at = dict(self.converters)
        namespace = {f"convert_{index}": convert for index, convert in convert_at.items()}
        items = ", ".join(
            f"{name!r}: convert_{index}(row[{index}])" if index in convert_at else f"{name!r}: row[{index}]"
            for index, name in enumerate(self.names)
        )
        exec(f"def as_dict(row):\n    return {{{items}}}", namespace)
        return namespace["as_dict"]


@cache
def _reader(kind: EntityKind, vendor: str) -> Reader:
    return Reader(kind, vendor)


def reader(kind: EntityKind) -> Reader:
    """The kind's reader for the current database, compiled once."""
    return _reader(kind, connection.vendor)


def read_rows(kind: EntityKind, queryset) -> list[dict]:
    """Every row of a queryset of this kind, as sent (tests compare stores with it)."""
    return reader(kind).rows([str(pk) for pk in queryset.values_list("pk", flat=True)])
