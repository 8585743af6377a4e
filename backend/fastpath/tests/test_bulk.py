"""``backend.fastpath.bulk``: ``make`` builds the same unsaved instance as
``Model(**values)``, bulk inserts save and read back like any other save (binary COPY
on PostgreSQL), and ``present`` finds what a column holds."""

import uuid

from django.utils import timezone

from backend.accounts.models import User
from backend.events.models import Category, Event, EventAction
from backend.fastpath.bulk import _values_of, insert_instances, make, present
from backend.territory.models import Grid
from sync.entities import KINDS, bucket_row


def columns(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_make_builds_what_the_model_constructor_builds_and_it_saves(db):
    user = User.objects.get(username="demo_grid_worker")
    grid = Grid.objects.select_related("community").first()
    category = Category.objects.filter(parent__isnull=False).first()
    now = timezone.now()
    values = dict(
        id=uuid.uuid4(),
        number="SC20269999999",
        source="grid_patrol",
        category=category,
        description="测试",
        grid=grid,
        community_id=grid.community_id,
        street_id=grid.community.street_id,
        severity="normal",
        reporter=user,
        reported_at=now,
        updated_at=now,
        lat=30.25,
        lng=120.17,
    )
    made, constructed = make(Event, **values), Event(**values)
    assert columns(made) == columns(constructed)
    # every column is in the instance's __dict__, where insert_instances reads it
    assert {f.attname: made.__dict__[f.attname] for f in Event._meta.concrete_fields} == columns(constructed)
    assert made.photos == {} and made.photos is not make(Event, **values).photos  # a fresh default each time
    assert made._state.adding and made.category is category and made.reporter is user  # related objects cached
    action = make(EventAction, event=made, seq=1, action="report", actor=user, device=None, server_at=now)
    assert columns(action) == columns(
        EventAction(event=made, seq=1, action="report", actor=user, device=None, server_at=now)
    )
    insert_instances(Event, [made])
    saved = Event.objects.get(pk=made.pk)
    assert (saved.number, saved.grid_id, saved.reporter_id, saved.photos, saved.lat) == (
        made.number,
        grid.pk,
        user.pk,
        {},
        30.25,
    )


def made_event(**extra) -> Event:
    user = User.objects.get(username="demo_grid_worker")
    grid = Grid.objects.select_related("community").first()
    now = timezone.now()
    values = dict(
        id=uuid.uuid4(),
        number=f"SC2026{uuid.uuid4().int % 10**7:07d}",
        source="grid_patrol",
        category=Category.objects.filter(parent__isnull=False).first(),
        description="测试",
        grid=grid,
        community_id=grid.community_id,
        street_id=grid.community.street_id,
        severity="normal",
        reporter=user,
        reported_at=now,
        updated_at=now,
    )
    return make(Event, **{**values, **extra})


def test_every_kind_of_column_value_reads_back_as_it_was_inserted(db):
    photos = {
        "before": ["sha256:" + "a" * 64],
        "说明": '路口东侧 "引号" \\ 换行\n',
        "tiny": 1.5e-7,
        "big": 2.5e17,
        "n": -3,
        "none": None,
        "yes": True,
        "nested": [{"k": []}, {}],
    }
    made = made_event(
        photos=photos,
        lat=30.123456789,
        lng=None,
        overdue=True,
        urge_count=32767,
        action_count=2**31 - 1,
        deadline_at=timezone.now(),
        last_action_hash="f" * 64,
        result_note="",
    )
    insert_instances(Event, [made])
    saved = Event.objects.get(pk=made.pk)
    for name in (
        "photos",
        "lat",
        "lng",
        "overdue",
        "urge_count",
        "action_count",
        "deadline_at",
        "reported_at",
        "last_action_hash",
        "result_note",
        "description",
        "number",
        "grid_id",
    ):
        assert getattr(saved, name) == getattr(made, name), name


def test_present_finds_the_values_a_column_holds_where_other_columns_match(db):
    first, second = made_event(), made_event(merged_into=None)
    insert_instances(Event, [first, second])
    stranger = uuid.uuid4()
    assert present(Event, "id", [first.pk, second.pk, stranger]) == {first.pk, second.pk}
    assert present(Event, "id", {first.pk, stranger}, reporter_id=first.reporter_id, merged_into_id=None) == {first.pk}
    assert present(Event, "id", [first.pk], reporter_id=first.reporter_id + 1000) == set()
    assert present(Event, "number", [second.number, "SC20260000000"]) == {second.number}
    assert present(Event, "id", []) == set()


def test_it_stores_what_an_orm_save_stores(db):
    """The same values saved by ``Model.save`` and by ``insert_instances`` read back
    column for column alike (but the keys each is given, and the ORM's ``auto_now``)."""
    values = dict(photos={"before": ["sha256:" + "b" * 64]}, lat=30.2, lng=120.1, overdue=True, urge_count=2)
    saved_by_orm, inserted = made_event(**values), made_event(**values)
    inserted.reported_at = inserted.updated_at = saved_by_orm.reported_at
    Event.objects.bulk_create([saved_by_orm])
    insert_instances(Event, [inserted])
    orm_row, fast_row = (columns(Event.objects.get(pk=e.pk)) for e in (saved_by_orm, inserted))
    for key in ("id", "number", "updated_at"):  # updated_at: auto_now, set by the ORM's save
        orm_row.pop(key), fast_row.pop(key)
    assert fast_row == orm_row


def test_present_answers_what_the_orm_filter_answers(db):
    first, second, third = made_event(), made_event(), made_event(merged_into=None)
    insert_instances(Event, [first, second, third])
    Event.objects.filter(pk=second.pk).update(merged_into=first)
    asked = [first.pk, second.pk, third.pk, uuid.uuid4()]
    for equal in ({}, {"merged_into_id": None}, {"merged_into_id": first.pk}, {"reporter_id": first.reporter_id}):
        expected = set(Event.objects.filter(pk__in=asked, **equal).values_list("pk", flat=True))
        assert present(Event, "id", asked, **equal) == expected, equal


def test_the_kpis_dirty_marks_by_copy_are_the_rows_bulk_create_made(db, settings):
    from backend.stats.facts import mark_dirty
    from backend.stats.models import DirtyEvent

    settings.STATS_FACTS = True
    ids = [uuid.uuid4() for _ in range(3)]
    DirtyEvent.objects.all().delete()
    DirtyEvent.objects.bulk_create([DirtyEvent(event_id=value) for value in ids])  # the plain version
    plain = sorted(DirtyEvent.objects.values_list("event_id", flat=True))
    DirtyEvent.objects.all().delete()
    mark_dirty([str(ids[0]), ids[1], str(ids[2])])  # the write path passes text; a UUID is taken too
    assert sorted(DirtyEvent.objects.values_list("event_id", flat=True)) == plain == sorted(ids)
    assert len(set(DirtyEvent.objects.values_list("pk", flat=True))) == 3


def test_values_are_read_from_the_instance_or_through_a_deferred_fields_attribute(db):
    """``insert_instances`` reads an instance's ``__dict__``; a field not loaded there
    (``only``) is read through its attribute, as ``attrgetter`` read every one before."""
    event = made_event(description="原来的描述")
    insert_instances(Event, [event])
    attnames = ["id", "grid_id", "description", "photos"]
    values = _values_of(attnames)
    assert values(event) == (event.pk, event.grid_id, "原来的描述", {})
    loaded = Event.objects.only("id", "grid_id").get(pk=event.pk)
    assert "description" not in loaded.__dict__
    assert values(loaded) == (event.pk, event.grid_id, "原来的描述", {})
    assert _values_of(["description"])(event) == ("原来的描述",)


def test_an_events_bucket_row_is_what_its_attributes_say(db):
    """``sync.entities.bucket_row`` reads the instance's ``__dict__``: the same values
    as through its attributes, for an instance made, read whole, or read in part."""
    kind = KINDS["event"]
    event = made_event()
    insert_instances(Event, [event])

    def through_attributes(instance) -> dict:
        return {name: getattr(instance, "pk" if name == "id" else name) for name in kind.bucket_fields}

    for instance in (event, Event.objects.get(pk=event.pk), Event.objects.only("id").get(pk=event.pk)):
        assert bucket_row(kind, instance) == through_attributes(instance)
