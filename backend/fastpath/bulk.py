"""Plain statements for work in bulk: generated data at scale (demo history,
imports) and a phone's batch of offline reports.

The ORM's ``bulk_create`` spends more time preparing each value through the SQL
compiler than the database spends writing, and so does its ``IN`` of a hundred
values. Here each column's conversion is chosen once, by field type, and rows are
plain tuples. No signals, no defaults: callers give every column. What each piece
saved, and the tests that hold it equal to the ORM: README.md beside this file."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter, itemgetter

import orjson
from django.db import connection, models
from django.db.models.base import ModelState
from psycopg.postgres import types as postgres_types

from backend.fastpath.statements import through_django


def _json_text(value) -> str:
    return orjson.dumps(value).decode()


def _jsonb_binary(value) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary form: a version byte, then the text


def _converter(field: models.Field, postgres: bool):
    """How a Python value becomes the column's value, or None when it already is
    (psycopg adapts datetimes and UUIDs itself)."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.DateTimeField):
        return None if postgres else connection.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField):
        return _jsonb_binary if postgres else _json_text
    if isinstance(field, models.UUIDField):
        return None if postgres else (lambda value: field.get_db_prep_save(value, connection))
    return None


def _binary_type(field: models.Field) -> int:
    """The type oid psycopg dumps a column's values as, in binary COPY. JSON goes as
    bytes already in jsonb's binary form (``_jsonb_binary``)."""
    if isinstance(field, models.JSONField):
        return postgres_types["bytea"].oid
    return postgres_types[re.sub(r"\(.*\)", "", field.db_type(connection)).strip()].oid


@dataclass(frozen=True)
class _Plan:
    convert_at: list[tuple[int, Callable]]
    sql: str
    types: list[int] | None  # PostgreSQL: the columns' binary COPY types


@cache
def _plan(model: type[models.Model], attnames: tuple[str, ...], postgres: bool) -> _Plan:
    fields = [_field(model, name) for name in attnames]
    convert_at = [(i, convert) for i, field in enumerate(fields) if (convert := _converter(field, postgres))]
    quote = connection.ops.quote_name
    table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    if not postgres:
        return _Plan(convert_at, f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})", None)
    return _Plan(convert_at, f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)", [_binary_type(f) for f in fields])


def insert_rows(model: type[models.Model], attnames: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert ``rows`` (tuples in the order of ``attnames``) into ``model``'s table.
    Values must be of their column's Python type (PostgreSQL takes them in binary)."""
    plan = _plan(model, tuple(attnames), connection.vendor == "postgresql")
    params = []
    for row in rows:
        if plan.convert_at:
            row = list(row)
            for i, convert in plan.convert_at:
                if row[i] is not None:
                    row[i] = convert(row[i])
        params.append(row)
    with connection.cursor() as cursor:
        if plan.types is None:  # SQLite, in-process: executemany is already as fast as it gets
            cursor.executemany(plan.sql, params)
            return
        # Binary COPY: one round trip, no statement per row, and neither side prints
        # or parses values as text (what a batch of reports saves: README.md here).
        raw = cursor.cursor

        def copy_rows(sql, rows):
            with raw.copy(sql) as copy:
                copy.set_types(plan.types)
                for row in rows:
                    copy.write_row(row)

        through_django(raw, plan.sql, params, copy_rows, shown=f"{plan.sql} -- {len(params)} rows")


def _field(model: type[models.Model], attname: str) -> models.Field:
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def present(model: type[models.Model], attname: str, values: Iterable, **equal) -> set:
    """Those of ``values`` that the column ``attname`` of ``model``'s table holds, in
    rows whose columns named in ``equal`` (by attname) have those values (None: are
    null)."""
    values = list(values)
    if not values:
        return set()
    postgres = connection.vendor == "postgresql"
    quote = connection.ops.quote_name
    field = _field(model, attname)
    convert = _converter(field, postgres)
    as_stored = {convert(v) if convert else v: v for v in values}
    column = quote(field.column)
    conditions = [
        f"{quote(_field(model, name).column)} {'IS NULL' if value is None else '= %s'}" for name, value in equal.items()
    ]
    params = []
    for name, value in equal.items():
        if value is not None:  # as stored, like the values looked for (SQLite keeps UUIDs as hex)
            convert_equal = _converter(_field(model, name), postgres)
            params.append(convert_equal(value) if convert_equal else value)
    if postgres:  # one array parameter
        conditions.append(f"{column} = ANY(%s)")
        params.append(list(as_stored))
    else:
        conditions.append(f"{column} IN ({', '.join(['%s'] * len(as_stored))})")
        params.extend(as_stored)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {quote(model._meta.db_table)} WHERE {' AND '.join(conditions)}", params)
        return {as_stored[stored] for (stored,) in cursor.fetchall()}


def _values_of(attnames: Sequence[str]) -> Callable[[models.Model], tuple]:
    """A function giving an instance's values of ``attnames``: read from its
    ``__dict__`` (a foreign key's attname is a data descriptor, whose ``__get__`` cost a
    tenth of writing a batch's events), through the attributes when one is not there (a
    deferred field)."""
    from_dict, through_attributes = itemgetter(*attnames), attrgetter(*attnames)
    if len(attnames) == 1:  # itemgetter and attrgetter of one name answer the value, not a tuple
        return lambda obj: (through_attributes(obj),)

    def values(obj: models.Model) -> tuple:
        try:
            return from_dict(obj.__dict__)
        except KeyError:
            return through_attributes(obj)

    return values


def insert_instances(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert unsaved instances with every concrete column as it is set on them."""
    attnames = [f.attname for f in model._meta.concrete_fields]
    values = _values_of(attnames)
    insert_rows(model, attnames, (values(obj) for obj in instances))


def insert_new(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert unsaved instances of a model with an auto-increment key, which the
    database assigns (ids are not read back). Callers set ``auto_now`` columns."""
    auto = model._meta.pk.attname
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname != auto]
    if instances:
        values = _values_of(attnames)
        insert_rows(model, attnames, (values(obj) for obj in instances))


@dataclass(frozen=True)
class _Construction:
    constants: dict  # attname -> the field's constant default
    per_call: tuple  # (attname, relation name or None, field) of defaults made per call (``uuid4``, ``dict``)
    attnames: frozenset  # the concrete fields' attnames
    relations: dict  # a relation's name -> (its attname, field)


@cache
def _construction(model: type[models.Model]) -> _Construction:
    constants, per_call, relations = {}, [], {}
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            per_call.append((f.attname, f.name if f.is_relation else None, f))
        else:
            constants[f.attname] = f.get_default()
        if f.is_relation:
            relations[f.name] = (f.attname, f)
    attnames = frozenset(f.attname for f in model._meta.concrete_fields)
    return _Construction(constants, tuple(per_call), attnames, relations)


def make(model: type[models.Model], **values) -> models.Model:
    """``model(**values)`` without its cost: the instance's attributes are set
    directly, each field's default resolved here (``Model.__init__`` resolves every
    field's default and runs its descriptor; no model made here has ``post_init``
    work). ``values`` name fields by attname (``grid_id``) or, for a relation, by name
    with an instance (``grid=grid``), which is then cached on the new instance as
    ``model(grid=grid)`` would. A batch of offline reports makes hundreds."""
    plan = _construction(model)
    instance = model.__new__(model)
    instance._state = ModelState()
    attributes = instance.__dict__
    attributes.update(plan.constants)  # every constant default, then what is given over it
    for attname, name, field in plan.per_call:
        if attname not in values and (name is None or name not in values):
            attributes[attname] = field.get_default()
    related = []
    for key, value in values.items():
        if key in plan.relations and key not in plan.attnames:
            attname, field = plan.relations[key]
            if attname in values:  # given by its attname too: that one stands, as before
                continue
            attributes[attname] = None if value is None else value.pk
            related.append((field, value))
        elif key in plan.attnames:
            attributes[key] = value
    for field, obj in related:
        field.set_cached_value(instance, obj)
    return instance
