"""``fastpath.tail.write`` (PostgreSQL) writes what its three writers write one statement
each (``changelog.rewrite``, ``notifications.write``, ``privacy.log.write_reads``): the
same change-log rows and dirty marks, notifications with their counters, outbox rows and
request ids, and access-log rows, for every shape a step can have; and it answers the
same notifications. ``events.writes.writes_collected`` hands a nested block's writes to
the outer one and writes nothing of a block that raises, on both databases."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Device, User
from backend.events.models import Event
from backend.fastpath import changelog, tail
from backend.fastpath import notifications as fast_notifications
from backend.fastpath.tests.test_changelog import state as change_state
from backend.fastpath.tests.test_notifications import tables as notification_tables
from backend.ops.context import request_id_scope
from backend.privacy.log import record_reads, write_reads
from backend.privacy.models import PersonalDataRead, SubjectKind
from push import services
from push.models import Notification, NotificationKind, PushToken
from sync.entities import KINDS, bucket_row
from sync.models import Change
from tests.events_helpers import report

pytestmark = pytest.mark.django_db


def reads_table() -> list:
    return sorted(PersonalDataRead.objects.values_list("reader_id", "subject_kind", "subject_id", "endpoint", "fields"))


def snapshot() -> tuple:
    counters, notifications, outbox, origins = notification_tables()
    outbox = [row[:-1] for row in outbox]  # its next attempt is the write's time, another each run
    return change_state(), (counters, notifications, outbox, origins), reads_table()


def written(rewrites, messages, reads, *, one_statement: bool) -> tuple:
    now = timezone.now()
    with transaction.atomic(), request_id_scope("req-tail"):
        if one_statement:
            made = tail.write(rewrites, messages, reads, now=now, request_id="req-tail")
        else:
            for kind, ids, buckets, dirty in rewrites:
                changelog.rewrite(kind, ids, buckets, dirty=dirty)
            made = fast_notifications.write(messages, now=now, request_id="req-tail") if messages else []
            write_reads(reads)
        answer = [(n.user_id, n.seq, n.kind, n.title, n.data, n.event_id) for n in made]
        seen = snapshot()
        transaction.set_rollback(True)
    return answer, seen


@pytest.mark.parametrize("shape", ["everything", "rewrites only", "no rewrite", "two kinds", "reads only"])
def test_one_statement_writes_what_the_three_writers_write(as_persona, is_postgres, shape):
    if not is_postgres:
        pytest.skip("the one-statement tail is PostgreSQL's (SQLite writes one writer after another)")
    worker = as_persona("demo_grid_worker")
    events = [Event.objects.get(pk=report(worker, source="grid_patrol").json()["id"]) for _ in range(2)]
    kind = KINDS["event"]
    Change.objects.create(stamp=7, bucket="platform:999999", kind="event", entity_id=str(events[0].pk), deleted=False)
    rewrite = ("event", [str(e.pk) for e in events], kind.buckets([bucket_row(kind, e) for e in events]), True)
    grid = events[0].grid
    grid_kind = KINDS["grid"]
    grid_rewrite = ("grid", [str(grid.pk)], grid_kind.buckets([bucket_row(grid_kind, grid)]), False)
    users = list(User.objects.order_by("pk")[:3])
    device = Device.objects.create(user=users[0], device_id="tail-a")
    PushToken.objects.create(device=device, token="token-tail-a")
    M = services.Message
    messages = [
        M(tuple(u.pk for u in users), NotificationKind.ASSIGNMENT, "新任务", "类 · 网格", events[0], {"n": 1}),
        M((users[1].pk,), NotificationKind.TIP_PROGRESS, "进展", "处理中", events[0], {}),
    ]
    at = timezone.now()
    reads = [
        [users[0].pk, "resident", str(users[1].pk), "POST /x", "phone", at],
        [users[0].pk, "resident", "9", "POST /x", "", at],
    ]
    rewrites, told, shown = {
        "everything": ([rewrite], messages, reads),
        "rewrites only": ([rewrite], [], []),
        "no rewrite": ([], messages, reads[:1]),
        "two kinds": ([rewrite, grid_rewrite], messages, []),
        "reads only": ([], [], reads),
    }[shape]
    one = written(rewrites, told, shown, one_statement=True)
    each = written(rewrites, told, shown, one_statement=False)
    assert one == each
    answer, (changes, notifications, access) = one
    assert len(answer) == sum(len(m.users) for m in told) and len(access) == len(shown)


def test_a_nested_block_leaves_its_writes_to_the_outer_one_and_a_failed_one_writes_nothing(as_persona):
    from backend.events.writes import writes_collected

    worker = as_persona("demo_grid_worker")
    event = Event.objects.get(pk=report(worker, source="grid_patrol").json()["id"])
    reader, subject = User.objects.get(username="demo_dispatcher"), User.objects.get(username="demo_resident")
    before = PersonalDataRead.objects.count()
    with transaction.atomic():
        with writes_collected():
            with writes_collected():
                record_reads(reader, SubjectKind.RESIDENT, [subject.pk], "inner")
                services.notify(users=[subject.pk], kind=NotificationKind.TIP_PROGRESS, title="t", event=event)
            # the inner block's end wrote nothing: the outer one writes
            assert PersonalDataRead.objects.count() == before
            record_reads(reader, SubjectKind.RESIDENT, [subject.pk], "outer")
        assert sorted(
            PersonalDataRead.objects.filter(endpoint__in=["inner", "outer"]).values_list("endpoint", flat=True)
        ) == [
            "inner",
            "outer",
        ]
        assert Notification.objects.filter(user=subject, title="t", event=event).count() == 1
        with pytest.raises(RuntimeError), writes_collected():
            record_reads(reader, SubjectKind.RESIDENT, [subject.pk], "failed")
            raise RuntimeError
    assert not PersonalDataRead.objects.filter(endpoint="failed").exists()
    assert PersonalDataRead.objects.filter(endpoint__in=["inner", "outer"]).count() == 2
