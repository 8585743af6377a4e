"""``backend.fastpath.statements.Select``: a statement written once reads the same
instances the ORM reads (converted values, the joined row cached on its relation,
deferred fields loading on access), on either database."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.accounts.auth import DEVICE_WITH_USER
from backend.accounts.models import Device, User
from backend.events.models import Category
from backend.events.services import GRID_WITH_COMMUNITY, REPORTABLE_CATEGORY
from backend.fastpath import statements
from backend.fastpath.statements import STREAM_CHUNK, Select, run_prepared, streamed
from backend.territory.models import Community, Grid


def columns(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_a_joined_select_reads_what_the_orm_reads(db):
    user = User.objects.get(username="demo_grid_worker")
    device = Device.objects.create(user=user, device_id="statements-test", last_seen_at=timezone.now())
    found = DEVICE_WITH_USER.one([device.pk, user.pk])
    assert found is not None
    read_device, read_user = found
    orm = Device.objects.select_related("user").get(pk=device.pk)
    assert columns(read_device) == columns(orm) and columns(read_user) == columns(orm.user)
    assert read_device.last_seen_at.tzinfo is not None  # converted as the ORM converts (SQLite keeps text)
    with CaptureQueriesContext(connection) as queries:
        assert read_device.user is read_user  # the joined row is cached on the relation
    assert len(queries) == 0
    assert not read_device._state.adding and read_device._state.db == connection.alias


def test_no_row_is_none_and_conditions_apply(db):
    user = User.objects.get(username="demo_grid_worker")
    device = Device.objects.create(user=user, device_id="statements-test-2")
    other = User.objects.get(username="demo_resident")
    assert DEVICE_WITH_USER.one([device.pk, other.pk]) is None
    assert REPORTABLE_CATEGORY.one(["no-such-code", True]) is None
    leaf = Category.objects.filter(parent__isnull=False, active=True).first()
    assert REPORTABLE_CATEGORY.one([leaf.code, True])[0] == leaf
    top = Category.objects.filter(parent__isnull=True).first()
    assert REPORTABLE_CATEGORY.one([top.code, True]) is None  # only leaves are reportable
    Category.objects.filter(pk=leaf.pk).update(active=False)
    assert REPORTABLE_CATEGORY.one([leaf.code, True]) is None


def test_deferred_fields_load_on_access(db):
    grid = Grid.objects.select_related("community").first()
    read_grid, read_community = GRID_WITH_COMMUNITY.one([grid.pk])
    assert "polygon" in read_grid.get_deferred_fields()
    assert (read_grid.pk, read_grid.community_id, read_grid.community.street_id) == (
        grid.pk,
        grid.community_id,
        grid.community.street_id,
    )
    assert columns(read_community) == columns(grid.community)
    assert read_grid.polygon == grid.polygon  # read when first asked for


def test_every_model_gets_one_join_condition():
    with pytest.raises(ValueError, match="join"):
        Select(Grid, Community, where="{0}.id = %s")


ROWS_SQL = "SELECT id, code, name FROM events_category WHERE id > %s ORDER BY id"


def plain_rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def test_a_prepared_statement_answers_what_a_plain_one_does_and_is_prepared_once(db):
    expected = plain_rows(ROWS_SQL, [0])
    assert len(expected) > 10
    for _ in range(3):
        assert [tuple(row) for row in run_prepared(ROWS_SQL, [0])] == expected
    assert [tuple(row) for row in run_prepared(ROWS_SQL, [2**40])] == []  # a bigint parameter, same statement
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), max(generic_plans) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["SELECT id, code, name FROM events_category%"],
            )
            count, generic = cursor.fetchone()
        assert count == 1 and generic >= 4  # one prepared statement, run by its generic plan every time


def test_streamed_rows_are_the_rows_across_chunks_and_the_connection_goes_on(db):
    Category.objects.bulk_create(
        [Category(code=f"99.{n:03d}", name=f"流式测试{n}", platform_kind="service") for n in range(250)]
    )
    expected = plain_rows(ROWS_SQL, [0])
    assert len(expected) > 2 * STREAM_CHUNK
    assert [tuple(row) for row in streamed(ROWS_SQL, [0])] == expected
    rows = streamed(ROWS_SQL, [0])
    assert tuple(next(rows)) == expected[0]
    rows.close()  # abandoned part-way: what was left unread must not block the connection
    assert plain_rows("SELECT count(*) FROM events_category", []) == [(len(expected),)]


def test_without_chunked_rows_the_stream_is_one_result(db, monkeypatch):
    monkeypatch.setattr(statements, "CHUNKED_ROWS", False)  # a libpq older than 17
    expected = plain_rows(ROWS_SQL, [0])
    assert [tuple(row) for row in streamed(ROWS_SQL, [0], binary=True)] == expected


@pytest.mark.django_db
def test_the_event_detail_look_up_reads_what_the_orm_reads(as_persona):
    """``access_event`` reads by key through ``statements.Select`` (locked or not): the
    same event, category and grid as the ORM's ``select_related`` look-up."""
    from django.db import transaction

    from backend.events.models import Event
    from backend.events.selectors import EVENT_WITH_CATEGORY_AND_GRID_LOCKED, access_event
    from tests.events_helpers import report

    created = report(as_persona("demo_grid_worker"), source="grid_patrol").json()
    user = User.objects.get(username="demo_commander")
    orm = Event.objects.select_related("category", "grid").get(pk=created["id"])
    for lock in (False, True):
        with transaction.atomic():
            read = access_event(user, created["id"], lock=lock)
        assert {f.attname: getattr(read, f.attname) for f in Event._meta.concrete_fields} == {
            f.attname: getattr(orm, f.attname) for f in Event._meta.concrete_fields
        }
        assert Event.category.is_cached(read) and Event.grid.is_cached(read)
        assert read.category.__dict__.keys() >= {"code", "name"} and read.category.code == orm.category.code
        assert read.grid.name == orm.grid.name and read.grid.polygon == orm.grid.polygon  # deferred: loads on access
    locked = EVENT_WITH_CATEGORY_AND_GRID_LOCKED.sql
    assert locked.endswith(" FOR UPDATE OF t0") == connection.features.has_select_for_update_of


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["public_tip", "grid_patrol"])
def test_the_followers_a_step_tells_are_the_orms_followers_less_the_anonymous_account(as_persona, source):
    """``tips.services.FOLLOWERS_TO_TELL`` (a ``Plain`` statement) answers what the ORM
    answers: ``followers_of`` without the anonymous account."""
    from backend.events.models import Event
    from backend.tips.models import Follow, FollowReason
    from backend.tips.services import ANONYMOUS_ACCOUNT, _followers_to_tell, followers_of
    from tests.events_helpers import report

    persona = "demo_resident" if source == "public_tip" else "demo_grid_worker"
    event = Event.objects.get(pk=report(as_persona(persona), source=source).json()["id"])
    anonymous, _ = User.objects.get_or_create(username=ANONYMOUS_ACCOUNT)
    others = [User.objects.create(username=f"follower_{n}") for n in range(2)]
    for user in (anonymous, *others):
        Follow.objects.create(event=event, user=user, reason=FollowReason.ME_TOO)
    expected = followers_of(event) - {anonymous.pk}
    assert _followers_to_tell(event) == expected
    assert {u.pk for u in others} <= expected and (event.reporter_id in expected) == (source == "public_tip")
    # The same followers read along with the locked event (one statement less a step).
    from backend.events.selectors import access_event

    with transaction.atomic():
        locked = access_event(User.objects.get(username="demo_dispatcher"), event.pk, lock=True)
    assert locked._followers_to_tell == expected
    assert _followers_to_tell(locked) == expected
    assert not hasattr(access_event(User.objects.get(username="demo_dispatcher"), event.pk), "_followers_to_tell")


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["demo_resident", "demo_grid_worker"])
def test_the_reporter_read_with_the_event_is_the_one_person_read_alone(as_persona, persona):
    """``access_event`` brings the event's reporter (``_reporter``) as ``_people`` reads
    them alone, for a resident and for staff, locked or not; an event without a reporter
    comes with None."""
    from backend.events.models import Event
    from backend.events.reporters import _people
    from backend.events.selectors import access_event
    from tests.events_helpers import report

    source = "public_tip" if persona == "demo_resident" else "grid_patrol"
    event = Event.objects.get(pk=report(as_persona(persona), source=source).json()["id"])
    (alone,) = _people([event.reporter_id]).values()
    viewer = User.objects.get(username="demo_dispatcher")
    fields = ("pk", "username", "display_name", "phone", "is_resident")
    for lock in (False, True):
        with transaction.atomic():
            read = access_event(viewer, event.pk, lock=lock)._reporter
        assert [getattr(read, f) for f in fields] == [getattr(alone, f) for f in fields]
        assert str(read) == str(alone) and read.is_resident == (persona == "demo_resident")
    Event.objects.filter(pk=event.pk).update(reporter=None)
    assert access_event(viewer, event.pk)._reporter is None


@pytest.mark.django_db
def test_one_person_reads_what_the_orm_reads_for_many():
    """``events.reporters._people`` of one user (a ``Plain`` statement) answers what its
    ORM form answers, for a resident and for staff."""
    from backend.events.reporters import _people

    users = list(User.objects.filter(username__in=["demo_resident", "demo_dispatcher"]))
    assert len(users) == 2
    many = _people(u.pk for u in users)
    for user in users:
        (one,) = _people([user.pk]).values()
        fields = ("pk", "username", "display_name", "phone", "is_resident")
        assert [getattr(one, f) for f in fields] == [getattr(many[user.pk], f) for f in fields]
        assert str(one) == str(many[user.pk])
    assert many[users[0].pk].is_resident != many[users[1].pk].is_resident
