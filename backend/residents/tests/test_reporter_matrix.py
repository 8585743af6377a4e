"""Who sees a resident reporter's phone and name (PIPL), over every staff answer that
shows an event's reporter, for all eight demo personas: the street's dispatcher and the
commander; the handler only with the reporter's consent to be contacted; nobody else.
Every showing is in the access log, one statement per answer."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.accounts.services import auth_login, device_sign_in
from backend.events.models import Event
from backend.privacy.models import PersonalDataRead
from backend.residents.services import resident_create
from conftest import PASSWORD, PERSONAS, ApiClient
from tests.events_helpers import governance_platform_id, report, step

PHONE = "13611112222"
NAME = "李四"

# Who opens the event (in grid A, held by the street's governance platform) at all.
SEES = {"demo_grid_worker", "demo_secretary", "demo_dispatcher", "demo_handler", "demo_commander", "demo_admin"}
ALWAYS = {"demo_dispatcher", "demo_commander"}
WITH_CONSENT = {"demo_handler"}


def _resident(phone: str, name: str) -> tuple:
    user = resident_create(phone=phone)
    user.display_name = name
    user.save(update_fields=["display_name"])
    return user, ApiClient(device_sign_in(user=user, device_id=f"phone-{uuid.uuid4().hex[:8]}").access_token)


@pytest.fixture
def tip(db):
    """A resident's tip in grid A, accepted and dispatched to the street's governance platform."""
    user, client = _resident(PHONE, NAME)
    response = report(client, source="public_tip")
    assert response.status_code == 201, response.content
    event_id = response.json()["id"]
    dispatcher = _login("demo_dispatcher")[0]
    assert step(dispatcher, event_id, "accept").status_code == 200
    assert step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()}).status_code == 200
    return Event.objects.get(pk=event_id)


def _login(persona: str) -> tuple[ApiClient, str]:
    device_id = f"test-{uuid.uuid4().hex[:12]}"
    pair = auth_login(username=persona, password=PASSWORD, device_id=device_id, address="127.0.0.1")
    return ApiClient(pair.access_token), device_id


@pytest.mark.parametrize("contact_allowed", [False, True])
@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_the_residents_phone_only_to_whom_the_rule_names(tip, persona, contact_allowed):
    Event.objects.filter(pk=tip.pk).update(contact_allowed=contact_allowed)
    client, _ = _login(persona)
    before = PersonalDataRead.objects.count()  # the fixture's dispatcher saw it when dispatching
    shown = persona in ALWAYS or (contact_allowed and persona in WITH_CONSENT)
    expected = (PHONE, NAME) if shown else (None, None)

    detail = client.get(f"/events/{tip.pk}")
    listed = client.get("/events", {"queue": "all", "grid_id": tip.grid_id, "page_size": 200})
    history = client.get(f"/events/{tip.pk}/history")
    if persona not in SEES:
        assert detail.status_code == history.status_code == 404
        assert all(item["id"] != str(tip.pk) for item in listed.json()["items"])
        assert PersonalDataRead.objects.count() == before
        return
    body = detail.json()
    assert body["reporter_kind"] == "resident"
    assert (body["reporter_phone"], body["reporter_name"]) == expected, persona
    (item,) = [item for item in listed.json()["items"] if item["id"] == str(tip.pk)]
    assert (item["reporter_phone"], item["reporter_name"]) == expected, persona
    assert history.json()[0]["actor_name"] == (NAME if shown else "居民")
    for answer in (detail, listed, history):
        assert (PHONE in answer.content.decode()) == (shown and answer is not history)
        assert (NAME in answer.content.decode()) == shown
    # Recorded once per answer that showed it: who, whose, through which endpoint.
    reads = PersonalDataRead.objects.order_by("pk")[before:]
    assert len(reads) == (3 if shown else 0)
    if shown:
        assert {read.reader.username for read in reads} == {persona}
        endpoints = {read.endpoint for read in reads}
        assert endpoints == {
            "GET /api/v1/events/{event_id}",
            "GET /api/v1/events",
            "GET /api/v1/events/{event_id}/history",
        }
        assert set(PersonalDataRead.objects.values_list("subject_id", flat=True)) == {str(tip.reporter_id)}


def test_it_answers_steps_with_the_same_rule_and_records_them(tip):
    dispatcher, _ = _login("demo_dispatcher")
    answer = step(dispatcher, tip.pk, "comment", {"note": "已联系上报人"}).json()
    assert answer["reporter_phone"] == PHONE
    assert PersonalDataRead.objects.filter(endpoint="POST /api/v1/events/{event_id}/comment").count() == 1
    handler, _ = _login("demo_handler")
    answer = step(handler, tip.pk, "sign").json()
    assert answer["reporter_phone"] is None and answer["state"] == "in_progress"


def test_it_shows_a_staff_reporters_name_and_never_a_phone(db, as_persona):
    worker = as_persona("demo_grid_worker")
    event_id = report(worker, source="grid_patrol").json()["id"]
    for persona in ("demo_grid_worker", "demo_secretary", "demo_commander"):
        body = as_persona(persona).get(f"/events/{event_id}").json()
        assert (body["reporter_kind"], body["reporter_phone"]) == ("staff", None)
        assert body["reporter_name"]
    assert not PersonalDataRead.objects.exists()


def test_it_records_a_page_of_many_residents_in_one_statement(tip):
    _, other = _resident("13611113333", "王五")
    assert report(other, source="public_tip").status_code == 201
    dispatcher, _ = _login("demo_dispatcher")
    with CaptureQueriesContext(connection) as queries:
        page = dispatcher.get("/events", {"queue": "all", "grid_id": tip.grid_id}).json()
    phones = {item["reporter_phone"] for item in page["items"]}
    assert {PHONE, "13611113333"} <= phones
    inserts = [q["sql"] for q in queries if q["sql"].upper().startswith("INSERT") and "privacy" in q["sql"]]
    assert len(inserts) == 1
    assert PersonalDataRead.objects.filter(endpoint="GET /api/v1/events").count() == 2


@pytest.mark.parametrize("persona", ["demo_handler", "demo_grid_worker"])
def test_it_never_puts_the_phone_or_name_on_a_phone_through_sync(tip, persona):
    """Phones keep what they pull offline: a reporter's contact stays on the server and is
    read through ``GET /events/{id}`` (recorded) by those the rule names."""
    from sync.tests.phones import phone_of

    Event.objects.filter(pk=tip.pk).update(contact_allowed=True)
    phone = phone_of(persona)
    phone.pull()
    events = phone.entities("event")
    assert str(tip.pk) in events  # the event itself did arrive
    stored = json.dumps(list(phone.snapshot().values()), ensure_ascii=False, default=str)
    assert PHONE not in stored and NAME not in stored
    assert not PersonalDataRead.objects.filter(endpoint__contains="sync").exists()
