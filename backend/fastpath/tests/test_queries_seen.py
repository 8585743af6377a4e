"""Every fast path's statements show where Django's own do: in ``connection.queries``
(``CaptureQueriesContext``, debug tools) and through ``connection.execute_wrapper``,
on SQLite and on PostgreSQL (binary COPY, prepared and streamed statements use psycopg
directly there)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.accounts.auth import DEVICE_WITH_USER
from backend.accounts.models import Device, User
from backend.events.models import Category, Event
from backend.fastpath.bulk import insert_instances, insert_new, make, present
from backend.fastpath.rows import reader
from backend.fastpath.statements import run_prepared, streamed
from backend.territory.models import Grid
from sync.entities import KINDS

ROWS_SQL = "SELECT id, code FROM events_category WHERE id > %s ORDER BY id"


class Seen:
    """An ``execute_wrapper`` that notes each statement it is handed."""

    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(sql)
        return execute(sql, params, many, context)


def captured(run) -> tuple[list[str], list[str]]:
    """The SQL texts ``connection.queries`` and an execute wrapper saw while ``run`` ran."""
    seen = Seen()
    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(seen):
        run()
    return [query["sql"] for query in queries.captured_queries], seen.statements


def an_event() -> Event:
    grid = Grid.objects.select_related("community").first()
    now = timezone.now()
    return make(
        Event,
        id=uuid.uuid4(),
        number=f"SC2026{uuid.uuid4().int % 10**7:07d}",
        source="grid_patrol",
        category=Category.objects.filter(parent__isnull=False).first(),
        description="查询可见",
        grid=grid,
        community_id=grid.community_id,
        street_id=grid.community.street_id,
        severity="normal",
        reporter=User.objects.get(username="demo_grid_worker"),
        reported_at=now,
        updated_at=now,
    )


def test_it_shows_bulk_inserts(db):
    event = an_event()
    logged, wrapped = captured(lambda: insert_instances(Event, [event]))
    assert len(logged) == 1 and len(wrapped) == 1 and "events_event" in logged[0]
    assert ("COPY" if connection.vendor == "postgresql" else "INSERT") in logged[0]
    assert Event.objects.filter(pk=event.pk).exists()


def test_it_shows_insert_rows_of_a_table_with_an_automatic_key(db):
    made = [make(Category, code=f"99.{n:03d}", name=f"可见{n}", platform_kind="service") for n in range(3)]
    logged, wrapped = captured(lambda: insert_new(Category, made))
    assert len(logged) == len(wrapped) == 1 and "events_category" in logged[0]
    assert Category.objects.filter(name__startswith="可见").count() == 3


def test_it_shows_present(db):
    event = an_event()
    insert_instances(Event, [event])
    found = {}
    logged, wrapped = captured(lambda: found.update(ids=present(Event, "id", [event.pk, uuid.uuid4()])))
    assert found["ids"] == {event.pk}
    assert len(logged) == len(wrapped) == 1 and "events_event" in logged[0]


def test_it_shows_a_select(db):
    user = User.objects.get(username="demo_grid_worker")
    device = Device.objects.create(user=user, device_id="seen-phone")
    found = []
    logged, wrapped = captured(lambda: found.append(DEVICE_WITH_USER.one([device.pk, user.pk])))
    assert found[0][0].pk == device.pk
    assert len(logged) == len(wrapped) == 1 and "accounts_device" in logged[0]


def test_it_shows_a_plain_statement(db):
    from backend.fastpath.statements import Plain

    statement = Plain("SELECT u.id FROM {User} u WHERE u.username = %s", User=User)
    found = []
    logged, wrapped = captured(lambda: found.extend(statement.rows(["demo_grid_worker"])))
    assert found == [(User.objects.get(username="demo_grid_worker").pk,)]
    assert len(logged) == len(wrapped) == 1 and "accounts_user" in logged[0]


def test_it_shows_a_prepared_statement_with_its_values(db):
    rows = []
    logged, wrapped = captured(lambda: rows.extend(run_prepared(ROWS_SQL, [0])))
    assert rows and wrapped == [ROWS_SQL]
    [sql] = logged
    assert sql.startswith("SELECT id, code FROM events_category WHERE id > 0")


@pytest.mark.parametrize("binary", [False, True])
def test_it_shows_a_streamed_statement_once(db, binary):
    Category.objects.bulk_create(
        [Category(code=f"98.{n:03d}", name=f"流式可见{n}", platform_kind="service") for n in range(250)]
    )
    rows = []
    logged, wrapped = captured(lambda: rows.extend(streamed(ROWS_SQL, [0], binary=binary)))
    assert len(rows) > 250 and wrapped == [ROWS_SQL]
    assert len(logged) == 1 and "events_category" in logged[0]


def test_it_shows_a_pull_pages_row_reads(db):
    event = an_event()
    insert_instances(Event, [event])
    rows = []
    logged, wrapped = captured(lambda: rows.extend(reader(KINDS["event"]).rows([str(event.pk)])))
    assert [row["id"] for row in rows] == [str(event.pk)]
    assert len(logged) == len(wrapped) == 1 and "events_event" in logged[0]


def test_it_translates_database_errors_as_django_does(db):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        run_prepared("SELECT no_such_column FROM events_category WHERE id > %s", [0])


def test_it_names_only_tests_that_exist_in_the_package_readme():
    import re
    from pathlib import Path

    here = Path(__file__).parent
    readme = (here.parent / "README.md").read_text()
    named = []
    for cell in re.findall(r"`tests/(test_\w+)\.py::(\w+)`((?:, `::\w+`)*)", readme):
        module, first, more = cell
        named += [(module, first)] + [(module, name) for name in re.findall(r"::(\w+)", more)]
    assert len(named) >= 12
    for module, name in named:
        assert f"def {name}(" in (here / f"{module}.py").read_text(), (module, name)
