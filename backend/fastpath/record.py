"""A step's event update and its history row in one statement on PostgreSQL
(``step_p50_ms``: ``event.save(update_fields=…)`` and ``action.save()`` were two
statements and most of the ORM's per-step Python).

``WITH e AS (UPDATE <event> SET … WHERE id = … RETURNING 1) INSERT INTO <action> (…)
SELECT … FROM e RETURNING id``: the values are prepared by each field's own
``pre_save`` and ``get_db_prep_save``, as the ORM's save prepares them (``auto_now``
included); the history row is written only if the event's row was updated, and, as
``save(update_fields=…)`` does, a missing row is an error. No model signal is sent:
neither model has a receiver (the change log is written by the write path itself,
``sync.changes.changed``). Held equal to the two saves by tests/test_record.py
(PostgreSQL)."""

from __future__ import annotations

from functools import cache

from django.db import DatabaseError, connection

from backend.fastpath.statements import run_bound


def applies() -> bool:
    return connection.vendor == "postgresql"


@cache
def _plan(update_fields: tuple[str, ...]):
    from backend.events.models import Event, EventAction

    quote = connection.ops.quote_name
    event_fields = [Event._meta.get_field(name) for name in update_fields]
    action_fields = [f for f in EventAction._meta.concrete_fields if not f.primary_key]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in event_fields)
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in action_fields)
    sql = (
        f"WITH e AS (UPDATE {quote(Event._meta.db_table)} SET {assignments} "
        f"WHERE {quote(Event._meta.pk.column)} = %s RETURNING 1) "
        f"INSERT INTO {quote(EventAction._meta.db_table)} ({', '.join(quote(f.column) for f in action_fields)}) "
        f"SELECT {casts} FROM e RETURNING {quote(EventAction._meta.pk.column)}"
    )
    return sql, event_fields, action_fields


def save_with_action(event, action, update_fields) -> None:
    """``event.save(update_fields=update_fields)`` then ``action.save()`` (a new row), in
    one statement."""
    sql, event_fields, action_fields = _plan(tuple(dict.fromkeys(update_fields)))
    params = [f.get_db_prep_save(f.pre_save(event, False), connection) for f in event_fields]
    params.append(event._meta.pk.get_db_prep_value(event.pk, connection))
    params += [f.get_db_prep_save(f.pre_save(action, True), connection) for f in action_fields]
    rows = run_bound(sql, params)
    if not rows:
        raise DatabaseError("Save with update_fields did not affect any rows.")
    action.pk = rows[0][0]
    action._state.adding = False
    action._state.db = connection.alias
