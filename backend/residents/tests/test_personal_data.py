"""A resident's personal data: who read it (the resident, the admin API), a copy of
everything held (download), and deleting the account with the tips kept intact."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db.models import Max
from django.test import Client

from backend.accounts.models import Device, RefreshToken, User
from backend.events.history import verify_chain
from backend.events.models import Event
from backend.privacy.models import PersonalDataRead
from backend.residents.models import Consent, Resident
from backend.residents.tests.helpers import post, sign_in
from conftest import PERSONAS, ApiClient
from push.models import Notification, PushToken
from tests import matrix_registry
from tests.events_helpers import report, step

matrix_registry.cover(
    "/api/v1/residents/me/personal-data-reads",
    "/api/v1/residents/me/personal-data",
    "/api/v1/residents/me/delete",
    "/api/v1/admin/personal-data-reads",
)

PHONE = "13522223333"


@pytest.fixture
def resident(db):
    """A resident signed up through the code flow, with a named tip read by the dispatcher."""
    tokens = sign_in(PHONE)
    user = User.objects.get(phone=PHONE)
    user.display_name = "赵六"
    user.save(update_fields=["display_name"])
    client = ApiClient(tokens["access_token"])
    event_id = report(client, source="public_tip").json()["id"]
    return {"user": user, "client": client, "tokens": tokens, "event_id": event_id}


def test_it_lists_to_the_resident_who_read_their_data(resident, as_persona):
    assert resident["client"].get("/residents/me/personal-data-reads").json() == []
    dispatcher = as_persona("demo_dispatcher")
    dispatcher.get(f"/events/{resident['event_id']}")
    as_persona("demo_secretary").get(f"/events/{resident['event_id']}")  # shown nothing: not recorded
    (read,) = resident["client"].get("/residents/me/personal-data-reads").json()
    assert read["reader_name"] == User.objects.get(username="demo_dispatcher").display_name
    assert read["reader_roles"] == ["街道指挥室调度员"]
    assert read["endpoint"] == "GET /api/v1/events/{event_id}"
    assert read["fields"] == "phone,display_name" and read["at"].endswith("+00:00")


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lets_only_residents_use_the_resident_endpoints(as_persona, persona):
    client = as_persona(persona)
    expected = 200 if persona == "demo_resident" else 403
    assert client.get("/residents/me/personal-data-reads").status_code == expected
    assert client.get("/residents/me/personal-data").status_code == expected
    if persona != "demo_resident":
        refused = client.post("/residents/me/delete", {"confirm": True})
        assert (refused.status_code, refused.json()["code"]) == (403, "residents_only")
        assert User.objects.get(username=persona).is_active


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lets_only_the_admin_list_the_access_log(resident, as_persona, persona):
    as_persona("demo_commander").get(f"/events/{resident['event_id']}")
    answer = as_persona(persona).get("/admin/personal-data-reads", {"subject_id": str(resident["user"].pk)})
    if persona != "demo_admin":
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
        return
    body = answer.json()
    (row,) = body["items"]
    assert row["reader_username"] == "demo_commander" and row["subject_kind"] == "resident"
    assert row["subject_id"] == str(resident["user"].pk) and body["has_more"] is False
    client = as_persona(persona)
    assert client.get("/admin/personal-data-reads", {"reader_id": 999999}).json()["items"] == []
    assert client.get("/admin/personal-data-reads", {"subject_kind": "nobody"}).status_code == 422


def test_it_lists_the_access_log_in_the_admin_site(resident, as_persona):
    as_persona("demo_dispatcher").get(f"/events/{resident['event_id']}")
    client = Client()
    client.force_login(User.objects.get(username="demo_admin"))
    page = client.get("/admin/privacy/personaldataread/").content.decode()
    assert "GET /api/v1/events/{event_id}" in page


def next_seq(user) -> int:
    """After the steps' own notifications to the reporter (tips: public milestones)."""
    return (Notification.objects.filter(user=user).aggregate(m=Max("seq"))["m"] or 0) + 1


def test_it_gives_the_resident_everything_held_about_them(resident, as_persona):
    dispatcher = as_persona("demo_dispatcher")
    dispatcher.get(f"/events/{resident['event_id']}")
    step(dispatcher, resident["event_id"], "reject", {"reason": "内部备注：不属于受理范围"})
    Notification.objects.create(
        user=resident["user"], seq=next_seq(resident["user"]), kind="event", title="您的爆料已处理"
    )
    response = resident["client"].get("/residents/me/personal-data")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="personal-data-{resident["user"].pk}.json"'
    data = response.json()
    assert set(data) == {"account", "consents", "devices", "tips", "notifications", "personal_data_reads"}
    assert data["account"]["phone"] == PHONE and data["account"]["display_name"] == "赵六"
    assert [c["notice_version"] for c in data["consents"]] == [Consent.objects.get().notice_version]
    assert [d["device_id"] for d in data["devices"]] == [resident["tokens"]["device_id"]]
    (tip,) = data["tips"]
    assert tip["id"] == resident["event_id"] and tip["state"] == "rejected"
    assert [h["action"] for h in tip["history"]] == ["report", "reject"]
    assert tip["history"][1]["note"] == ""  # staff notes are not the resident's data
    assert "demo_dispatcher" not in response.content.decode()
    assert [n["title"] for n in data["notifications"]][-1] == "您的爆料已处理"  # after the step's own
    assert [r["endpoint"] for r in data["personal_data_reads"]][-1] == "GET /api/v1/events/{event_id}"


def test_it_deletes_the_account_and_keeps_the_tips_with_their_history(resident, as_persona):
    user, client = resident["user"], resident["client"]
    event = Event.objects.get(pk=resident["event_id"])
    dispatcher = as_persona("demo_dispatcher")
    step(dispatcher, event.pk, "accept")
    as_persona("demo_dispatcher").get(f"/events/{event.pk}")
    head = Event.objects.get(pk=event.pk).last_action_hash

    PushToken.objects.create(device_id=resident["tokens"]["device"]["id"], token="fcm-token")
    Notification.objects.create(user=user, seq=next_seq(user), kind="event", title="已受理")
    refused = client.post("/residents/me/delete", {"confirm": False})
    assert refused.status_code == 422 and User.objects.get(pk=user.pk).is_active
    assert client.post("/residents/me/delete", {"confirm": True}).json() == {"ok": True}

    user.refresh_from_db()
    assert (user.phone, user.display_name, user.is_active) == ("", "", False)
    assert not user.has_usable_password() and Resident.objects.get(user=user).deleted_at is not None
    assert all(d.revoked_at for d in Device.objects.filter(user=user))
    assert not PushToken.objects.filter(device__user=user).exists()
    assert not Notification.objects.filter(user=user).exists()
    assert not RefreshToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert client.get("/me").status_code == 401  # the access token died with the device
    refresh = post("/auth/refresh", {"refresh_token": resident["tokens"]["refresh_token"], "device_id": "x" * 8})
    assert refresh.status_code == 401

    # The tip stays, its chain untouched and still valid; staff now see nobody behind it.
    kept = Event.objects.get(pk=event.pk)
    assert kept.reporter_id == user.pk and kept.last_action_hash == head and verify_chain(kept) == []
    detail = dispatcher.get(f"/events/{event.pk}").json()
    assert (detail["reporter_kind"], detail["reporter_phone"], detail["reporter_name"]) == ("resident", None, None)
    assert dispatcher.get(f"/events/{event.pk}/history").json()[0]["actor_name"] == "居民"
    # The access log and the consent stay as the record; the number may sign up afresh.
    assert PersonalDataRead.objects.filter(subject_id=str(user.pk)).exists()
    assert Consent.objects.filter(user=user).exists()
    cache.clear()  # the minute between two codes to one number
    again = sign_in(PHONE)
    assert User.objects.get(phone=PHONE).pk != user.pk and again["access_token"]
