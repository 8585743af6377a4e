"""Plain ``executemany`` inserts for generated data at scale (demo history, imports).

The ORM's ``bulk_create`` spends more time preparing each value through the SQL
compiler than the database spends writing. Here each column's conversion is
chosen once, by field type, and rows are plain tuples. No signals, no defaults:
callers give every column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import attrgetter

import orjson
from django.db import connection, models
from django.db.models.base import ModelState


def _json_text(value) -> str:
    return orjson.dumps(value).decode()


def _converter(field: models.Field, postgres: bool):
    """How a Python value becomes the column's value, or None when it already is
    (psycopg adapts datetimes and UUIDs itself)."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.DateTimeField):
        return None if postgres else connection.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField):
        return _json_text  # the column's text, as the database parses it (COPY or a TEXT column)
    if isinstance(field, models.UUIDField):
        return None if postgres else (lambda value: field.get_db_prep_save(value, connection))
    return None


def insert_rows(model: type[models.Model], attnames: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert ``rows`` (tuples in the order of ``attnames``) into ``model``'s table."""
    meta = model._meta
    postgres = connection.vendor == "postgresql"
    fields = [next(f for f in meta.concrete_fields if f.attname == name) for name in attnames]
    convert_at = [(i, convert) for i, field in enumerate(fields) if (convert := _converter(field, postgres))]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    placeholder = f"({', '.join(['%s'] * len(fields))})"
    params = []
    for row in rows:
        if convert_at:
            row = list(row)
            for i, convert in convert_at:
                if row[i] is not None:
                    row[i] = convert(row[i])
        params.append(row)
    with connection.cursor() as cursor:
        if not postgres:
            cursor.executemany(head + placeholder, params)  # in-process: already as fast as it gets
            return
        # COPY: one round trip and no per-row statement (nor a huge VALUES list to parse).
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)


def insert_instances(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert unsaved instances with every concrete column as it is set on them."""
    attnames = [f.attname for f in model._meta.concrete_fields]
    values = attrgetter(*attnames)
    insert_rows(model, attnames, (values(obj) for obj in instances))


def insert_new(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert unsaved instances of a model with an auto-increment key, which the
    database assigns (ids are not read back). Callers set ``auto_now`` columns."""
    auto = model._meta.pk.attname
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname != auto]
    if instances:
        values = attrgetter(*attnames)
        insert_rows(model, attnames, (values(obj) for obj in instances))


@lru_cache(maxsize=None)
def _construction(model: type[models.Model]) -> list[tuple[str, str | None, models.Field, bool, object]]:
    """Per concrete field: attname, relation name, field, whether its default is made
    per call (``uuid4``, ``dict``), and otherwise the constant default."""
    table = []
    for f in model._meta.concrete_fields:
        per_call = f.has_default() and callable(f.default)
        table.append((f.attname, f.name if f.is_relation else None, f, per_call, None if per_call else f.get_default()))
    return table


def make(model: type[models.Model], **values) -> models.Model:
    """``model(**values)``, several times faster: the instance's attributes are set
    directly, each field's default resolved here (``Model.__init__`` resolves every
    field's default and runs its descriptor; no model made here has ``post_init``
    work). ``values`` name fields by attname (``grid_id``) or, for a relation, by name
    with an instance (``grid=grid``), which is then cached on the new instance as
    ``model(grid=grid)`` would. A batch of offline reports makes two hundred."""
    instance = model.__new__(model)
    instance._state = ModelState()
    attributes = instance.__dict__
    related = []
    for attname, name, field, per_call, constant in _construction(model):
        if attname in values:
            attributes[attname] = values[attname]
        elif name is not None and name in values:
            obj = values[name]
            attributes[attname] = None if obj is None else obj.pk
            related.append((field, obj))
        else:
            attributes[attname] = field.get_default() if per_call else constant
    for field, obj in related:
        field.set_cached_value(instance, obj)
    return instance
