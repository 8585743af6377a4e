"""One path per command: the registry (backend/events/commands.py) is what the REST
routes and the sync push both run; one word names a step everywhere; the change log is
written once per event per command."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.api import api
from backend.events.commands import COMMANDS
from backend.events.models import Event, EventAction
from backend.events.workflow import STEPS
from media.models import ExpectedPhoto
from media.tests.test_photos import image_bytes, private_storage, upload  # noqa: F401 (an autouse fixture)
from sync import commands as sync_commands
from sync.models import Change, LedgerEntry
from sync.tests.test_push import Phone
from tests.events_helpers import GRID_A, centre_of, report, step

CHANGE_TABLE = Change._meta.db_table
TIMES = {"reported_at", "updated_at", "device_reported_at", "server_at", "device_at"}


def _event_row(event_id) -> dict:
    event = Event.objects.get(pk=event_id)
    row = {f.attname: getattr(event, f.attname) for f in Event._meta.concrete_fields}
    assert row["updated_at"] == row["reported_at"]  # the REST report used to differ here
    return {k: v for k, v in row.items() if k not in {"id", "number", "last_action_hash", *TIMES}}


def _action_rows(event_id) -> list[dict]:
    skip = {"id", "event_id", "hash", "prev_hash", *TIMES}
    return [
        {f.attname: getattr(a, f.attname) for f in EventAction._meta.concrete_fields if f.attname not in skip}
        for a in EventAction.objects.filter(event_id=event_id).order_by("seq")
    ]


def _log_rows(event_id) -> list[tuple]:
    return sorted(
        Change.objects.filter(kind="event", entity_id=str(event_id)).values_list("bucket", "deleted", "stamp")
    )


def _expected_photos(event_id) -> list[tuple]:
    return sorted(ExpectedPhoto.objects.filter(event_id=event_id).values_list("sha256", "phase", "user_id"))


def test_it_makes_the_same_rows_from_a_rest_report_and_a_pushed_one(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    lat, lng = centre_of(GRID_A)
    photo = f"sha256:{hashlib.sha256(b'one photo').hexdigest()}"
    fields = dict(source="grid_patrol", category="06.01", description="楼道堆物", before_photos=[photo])
    rest = phone.client.post(
        "/events", {**fields, "id": str(uuid.uuid4()), "location": {"lat": lat, "lng": lng, "crs": "wgs84"}}
    )
    assert rest.status_code == 201, rest.content
    pushed = phone.push([phone.mutation("event.report", id=str(uuid.uuid4()), lat=lat, lng=lng, **fields)])
    result = pushed.json()["results"][0]
    assert result["status"] == "applied", result
    rest_id, pushed_id = rest.json()["id"], result["data"]["event_id"]

    assert _event_row(rest_id) == _event_row(pushed_id)
    assert _action_rows(rest_id) == _action_rows(pushed_id) and _action_rows(rest_id)[0]["action"] == "report"
    assert _log_rows(rest_id) == _log_rows(pushed_id) and _log_rows(rest_id)
    assert _expected_photos(rest_id) == _expected_photos(pushed_id) and _expected_photos(rest_id)


def _rewrites(queries) -> int:
    """How many times an existing entity's change rows were rewritten: each rewrite
    deletes the rows it replaces in one statement (on PostgreSQL the whole rewrite is
    one statement: ``backend.fastpath.changelog``)."""
    from backend.fastpath.changelog import REWRITE_BEGINS

    return sum(
        1
        for q in queries
        if (q["sql"].startswith("DELETE") and CHANGE_TABLE in q["sql"]) or q["sql"].startswith(REWRITE_BEGINS)
    )


def test_it_writes_an_events_change_rows_once_per_step(as_persona, persona_user):
    dispatcher, worker, secretary = (
        as_persona("demo_dispatcher"),
        as_persona("demo_grid_worker"),
        as_persona("demo_secretary"),
    )
    before = image_bytes(size=(320, 240))  # not the after photo's bytes: one file is one photo
    assert upload(worker, None, before, phase="before").status_code in (200, 201)
    event_id = report(worker, source="grid_patrol", before_photos=[hashlib.sha256(before).hexdigest()]).json()["id"]
    rows_before = set(Change.objects.filter(entity_id=event_id).values_list("pk", flat=True))
    assert rows_before  # the report wrote them (a bulk insert: nothing to rewrite)

    after = image_bytes()
    assert upload(worker, None, after, phase="after").status_code in (200, 201)  # uploaded before it is referenced
    steps = [
        (dispatcher, "accept", {}),
        (dispatcher, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk}),
        (worker, "sign", {}),
        # The step saves the event, and attaching the uploaded photo saves it again.
        (worker, "handle", {"result_note": "已清理", "after_photos": [hashlib.sha256(after).hexdigest()]}),
        (secretary, "approve", {}),
    ]
    for client, name, body in steps:
        with CaptureQueriesContext(connection) as queries:
            answer = step(client, event_id, name, body)
        assert answer.status_code == 200, (name, answer.content)
        assert _rewrites(queries.captured_queries) == 1, name
    actions = list(EventAction.objects.filter(event_id=event_id).values_list("action", flat=True).order_by("seq"))
    assert actions == ["report", "photo", "accept", "dispatch", "sign", "handle", "photo", "approve"]
    # Every bucket the event is in holds one live row, however many saves made it.
    live = list(Change.objects.filter(entity_id=event_id, deleted=False).values_list("bucket", flat=True))
    assert len(live) == len(set(live))


def test_it_rewrites_the_change_rows_of_a_pushed_step_once(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    event_id = report(phone.client, source="grid_patrol").json()["id"]
    photo = image_bytes()
    assert upload(phone.client, None, photo, phase="after").status_code in (200, 201)
    with CaptureQueriesContext(connection) as queries:
        results = phone.push(
            [
                phone.mutation(
                    "event.comment",
                    event_id=event_id,
                    note="已联系物业",
                    after_photos=[hashlib.sha256(photo).hexdigest()],
                )
            ]
        ).json()["results"]
    assert results[0]["status"] == "applied", results
    actions = EventAction.objects.filter(event_id=event_id).order_by("seq").values_list("action", flat=True)
    assert list(actions) == ["report", "comment", "photo"]  # two saves of the event in one mutation
    assert _rewrites(queries.captured_queries) == 1


def test_it_names_each_step_with_one_word_everywhere(as_persona):
    routes = {path for path, item in api.get_openapi_schema()["paths"].items() if "post" in item}
    for name in COMMANDS:
        assert name in STEPS
        assert f"/api/v1/events/{{event_id}}/{name}" in routes, name
        assert sync_commands.COMMANDS[f"event.{name}"].step == name
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    offered = dispatcher.get(f"/events/{event_id}").json()["allowed_steps"]
    assert "accept" in offered and set(offered) <= set(COMMANDS)
    # Each step offered is posted to its own name; the history names it the same way.
    assert step(dispatcher, event_id, offered[0], {"reason": "重复上报"}).status_code == 200
    assert EventAction.objects.filter(event_id=event_id).latest("seq").action == offered[0]


def test_it_answers_allowed_steps_that_are_paths_for_the_extension_steps(as_persona, persona_user):
    dispatcher, handler = as_persona("demo_dispatcher"), as_persona("demo_grid_worker")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    assert "extension" in step(handler, event_id, "sign").json()["allowed_steps"]
    until = (timezone.now() + timedelta(days=30)).isoformat()
    step(handler, event_id, "extension", {"until": until, "reason": "需协调物业"})
    offered = dispatcher.get(f"/events/{event_id}").json()["allowed_steps"]
    assert {"extension/approve", "extension/refuse"} <= set(offered)
    assert step(dispatcher, event_id, "extension/refuse", {}).status_code == 200
    actions = list(EventAction.objects.filter(event_id=event_id).order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["extension", "extension/refuse"]


def test_it_still_accepts_the_old_mutation_names_from_phones_in_the_field(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    phone = Phone(as_persona, "demo_grid_worker")
    version = step(phone.client, event_id, "sign").json()["version"]
    until = (timezone.now() + timedelta(days=30)).isoformat()
    results = phone.push(
        [
            phone.mutation("event.request_extension", event_id=event_id, until=until, reason="需协调物业"),
            {
                **phone.mutation("event.update_fields", event_id=event_id, fields={"severity": "high"}),
                "base_version": version,
            },
            phone.mutation("event.edit", event_id=event_id, fields={"address_text": "3 幢"}),
        ]
    ).json()["results"]
    assert [r["status"] for r in results[:2]] == ["applied", "merged"], results
    assert results[2]["code"] == "base_version_required"  # the new name is the same merge
    event = Event.objects.get(pk=event_id)
    assert event.extension_requested_until is not None and event.severity == "high"
    actions = EventAction.objects.filter(event_id=event_id).order_by("-seq").values_list("action", flat=True)
    assert list(actions[:3]) == ["comment", "edit", "extension"]  # the refused edit's values kept as a comment
    # The ledger keeps the name as sent.
    assert LedgerEntry.objects.filter(device=phone.device, name="event.request_extension").exists()


def test_it_rewrites_the_change_rows_of_an_event_marked_overdue_once(as_persona, persona_user):
    from backend.events.supervision import supervision_tick
    from sync.changes import stamp_changes

    worker, dispatcher = as_persona("demo_grid_worker"), as_persona("demo_dispatcher")
    event_id = report(worker, source="grid_patrol").json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    stamp_changes()  # what a phone has pulled already
    late = Event.objects.get(pk=event_id).deadline_at + timedelta(minutes=1)
    with CaptureQueriesContext(connection) as queries:
        assert supervision_tick(now=late).marked_overdue >= 1
    actions = EventAction.objects.filter(event_id=event_id).order_by("-seq").values_list("action", flat=True)
    assert list(actions[:2]) == ["urge", "overdue"]  # two saves of the event
    assert _rewrites(queries.captured_queries) == 1  # the batch's events in one rewrite
    assert Change.objects.filter(entity_id=event_id, stamp__isnull=True).exists()  # the phones will hear of it
