"""Residents' tips end to end: submit (signed in, "not sure", from the address library,
anonymous), nearby, me-too, merge with every follower carried and told, the public
view over every endpoint a resident can call, and the dispatcher's triage view."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.hashers import make_password

from backend.accounts.models import Device, Role, RoleAssignment, User
from backend.events.models import Event, EventAction
from backend.territory.coords import to_gcj02
from backend.tips.models import AnonymousTip, Follow
from conftest import PASSWORD, ApiClient, login_as
from push.models import Notification, NotificationKind
from sync.client import PROTOCOL_VERSION
from tests import matrix_registry
from tests.events_helpers import GRID_A, centre_of, evidence, governance_platform_id, step

pytestmark = pytest.mark.django_db

matrix_registry.cover(
    "/api/v1/tips",
    "/api/v1/tips/anonymous",
    "/api/v1/tips/nearby",
    "/api/v1/tips/track",
    "/api/v1/tips/track/rate",
    "/api/v1/tips/triage",
    "/api/v1/tips/{event_id}",
    "/api/v1/tips/{event_id}/me-too",
)


def new_resident(name: str) -> ApiClient:
    user = User.objects.create(username=name, password=make_password(PASSWORD), first_name=name)
    RoleAssignment.objects.create(user=user, role=Role.RESIDENT)
    return login_as(name)


def tip(client, *, category="06.01", offset_m=0.0, **extra):
    lat, lng = centre_of(GRID_A)
    body = {
        "category": category,
        "description": "楼下垃圾堆了三天",
        "location": {"lat": lat + offset_m / 111_000, "lng": lng, "crs": "wgs84"},
    }
    body.update(extra)
    return client.post("/tips", body)


def device_of(client: ApiClient) -> str:
    from backend.accounts.tokens import decode_access_token

    return Device.objects.get(pk=decode_access_token(client.token).device_pk).device_id


def notified(username: str, event_id: str) -> list[dict]:
    rows = Notification.objects.filter(user__username=username, event_id=event_id).order_by("seq")
    return [{"kind": n.kind, "milestone": n.data.get("milestone"), "data": n.data} for n in rows]


def test_a_signed_in_tip_goes_through_the_one_report_path(as_persona):
    resident = as_persona("demo_resident")
    lat, lng = centre_of(GRID_A)
    gcj_lat, gcj_lng = to_gcj02(lat=lat, lng=lng)
    answer = resident.post(
        "/tips",
        {
            "category": "06.01",
            "description": "小区门口垃圾满溢",
            "location": {"lat": gcj_lat, "lng": gcj_lng, "crs": "gcj02"},
            "contact_allowed": True,
        },
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "received" and body["description"] == "小区门口垃圾满溢"
    event = Event.objects.get(pk=body["id"])
    assert event.source == "public_tip" and event.contact_allowed and event.grid.code == GRID_A
    assert abs(event.lat - lat) < 1e-6
    assert list(EventAction.objects.filter(event=event).values_list("action", flat=True)) == ["report"]
    assert resident.get(f"/tips/{event.pk}").json() == body  # the answer is the view read back
    # Staff report through /events; /tips is the residents'.
    assert as_persona("demo_dispatcher").post("/tips", {"description": "x", "category": "06.01"}).status_code == 403
    assert resident.post("/tips", {"description": "no place"}).json()["code"] == "location_required"


def test_not_sure_is_classified_by_the_dispatcher_on_accepting(as_persona):
    resident, dispatcher = as_persona("demo_resident"), as_persona("demo_dispatcher")
    event_id = tip(resident, category=None).json()["id"]
    assert Event.objects.get(pk=event_id).category.code == "00.00"
    refused = step(dispatcher, event_id, "accept")
    assert refused.status_code == 422 and refused.json()["code"] == "category_required"
    assert step(dispatcher, event_id, "accept", {"category": "00.00"}).status_code == 422
    accepted = step(dispatcher, event_id, "accept", {"category": "06.01"})
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["category"] == "06.01"
    assert EventAction.objects.get(event_id=event_id, action="accept").data == {"category": ["00.00", "06.01"]}


def test_a_tip_can_be_placed_by_a_library_address(as_persona):
    from backend.addresses.models import AddressEntry

    entry = AddressEntry.objects.order_by("pk").first()
    resident = as_persona("demo_resident")
    hits = resident.get("/addresses/search", {"q": entry.standard}).json()
    assert entry.pk in [hit["id"] for hit in hits]  # the search gives the id a tip names
    answer = resident.post("/tips", {"category": "06.01", "description": "楼道堆物", "address_id": entry.pk})
    assert answer.status_code == 201, answer.content
    event = Event.objects.get(pk=answer.json()["id"])
    assert event.grid_id == entry.grid_id and event.address_text == entry.standard
    missing = as_persona("demo_resident").post("/tips", {"description": "x", "address_id": 2**40})
    assert missing.status_code == 422 and missing.json()["code"] == "unknown_address"


def test_anonymous_tips_track_rate_and_are_limited(anonymous, as_persona, settings):
    lat, lng = centre_of(GRID_A)
    body = {
        "category": "06.01",
        "description": "河边有人倾倒垃圾",
        "location": {"lat": lat, "lng": lng, "crs": "wgs84"},
    }
    refused = anonymous.post("/tips/anonymous", {**body, "category": "01.01"})
    assert refused.status_code == 422 and refused.json()["code"] == "anonymous_not_allowed"

    made = anonymous.post("/tips/anonymous", body)
    assert made.status_code == 201, made.content
    code, secret, event_id = made.json()["tracking_code"], made.json()["secret"], made.json()["tip"]["id"]
    stored = AnonymousTip.objects.get(code=code)
    assert secret not in stored.secret_hash and str(stored.event_id) == event_id
    tracked = anonymous.post("/tips/track", {"tracking_code": code, "secret": secret})
    assert tracked.status_code == 200 and tracked.json()["status"] == "received"
    wrong = anonymous.post("/tips/track", {"tracking_code": code, "secret": secret + "x"})
    assert wrong.status_code == 404 and wrong.json()["code"] == "tracking_not_found"
    early = anonymous.post("/tips/track/rate", {"tracking_code": code, "secret": secret, "satisfaction": "satisfied"})
    assert early.status_code == 409

    # Closed, rated unsatisfied with a comment: back in the dispatcher's queue to reopen.
    close(event_id)
    rated = anonymous.post(
        "/tips/track/rate",
        {"tracking_code": code, "secret": secret, "satisfaction": "unsatisfied", "comment": "还是很脏"},
    )
    assert rated.status_code == 200, rated.content
    assert rated.json()["satisfaction"] == "unsatisfied"
    dispatcher = as_persona("demo_dispatcher")
    assert event_id in [e["id"] for e in dispatcher.get("/events", {"queue": "to_triage"}).json()["items"]]
    assert step(dispatcher, event_id, "reopen").json()["state"] == "accepted"

    settings.TIPS = {"ANONYMOUS_PER_HOUR": 3}  # one already made from this address
    answers = [anonymous.post("/tips/anonymous", body).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    limited = anonymous.post("/tips/anonymous", body)
    assert limited.json()["code"] == "rate_limited" and limited["Retry-After"] == "3600"


def close(event_id: str) -> None:
    """The closed loop on the event, by the demo staff (with real evidence)."""
    dispatcher, handler, secretary = (login_as(n) for n in ("demo_dispatcher", "demo_handler", "demo_secretary"))
    if Event.objects.get(pk=event_id).state == "reported":
        assert step(dispatcher, event_id, "accept").status_code == 200
    assert step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()}).status_code == 200
    assert step(handler, event_id, "sign").status_code == 200
    category = Event.objects.get(pk=event_id).category
    evidence(handler, event_id, before=category.before_photos_required, after=max(category.after_photos_required, 1))
    assert step(handler, event_id, "handle", {"result_note": "已清运并设置提示牌"}).status_code == 200
    assert step(secretary, event_id, "approve").status_code == 200, step(secretary, event_id, "approve").content


def test_nearby_answers_open_events_within_the_radius_and_nothing_personal(as_persona, anonymous):
    resident = as_persona("demo_resident")
    near = tip(resident, offset_m=60).json()["id"]
    far = tip(resident, offset_m=400).json()["id"]  # 06 的半径是 150 米
    lat, lng = centre_of(GRID_A)
    answer = anonymous.get("/tips/nearby", {"lat": lat, "lng": lng, "category": "06.01"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    ids = [item["id"] for item in body["items"]]
    assert body["radius_m"] == 150 and near in ids and far not in ids
    item = next(i for i in body["items"] if i["id"] == near)
    assert set(item) == {
        "id", "number", "category", "category_name", "status", "status_label", "distance_m", "lat", "lng", "me_too_count"
    }  # fmt: skip
    assert 50 <= item["distance_m"] <= 70
    assert "楼下垃圾" not in answer.content.decode() and "demo_resident" not in answer.content.decode()
    # Without a category the default radius (250 m) holds; a closed event is not offered.
    Event.objects.filter(pk=near).update(state="closed")
    default = anonymous.get("/tips/nearby", {"lat": lat, "lng": lng}).json()
    assert default["radius_m"] == 250 and near not in [i["id"] for i in default["items"]]
    assert anonymous.get("/tips/nearby", {"lat": lat, "lng": lng, "category": "nope"}).status_code == 422


def test_me_too_and_merge_keep_every_follower_informed(as_persona):
    reporter = new_resident("tips_reporter")
    neighbour = new_resident("tips_neighbour")
    duplicate_author = new_resident("tips_duplicate")
    dispatcher = as_persona("demo_dispatcher")

    survivor = tip(reporter).json()["id"]
    assert neighbour.post(f"/tips/{survivor}/me-too").json()["me_too_count"] == 1
    assert neighbour.post(f"/tips/{survivor}/me-too").json()["me_too_count"] == 1  # once per resident
    assert reporter.post(f"/tips/{survivor}/me-too").json()["code"] == "already_yours"
    assert dispatcher.post(f"/tips/{survivor}/me-too").status_code == 403
    duplicate = tip(duplicate_author, offset_m=30).json()["id"]
    assert duplicate_author.get(f"/tips/{survivor}").status_code == 404  # not theirs, not followed yet

    # Triage: the me-too count, and the two grouped as likely duplicates.
    triage = dispatcher.get("/tips/triage").json()
    counts = {item["id"]: item["me_too_count"] for item in triage["items"]}
    assert counts[survivor] == 1 and counts[duplicate] == 0
    assert any(g["event_ids"][:2] == [survivor, duplicate] for g in triage["duplicate_groups"])

    assert step(dispatcher, survivor, "accept").status_code == 200
    merged = step(dispatcher, duplicate, "merge", {"into": survivor})
    assert merged.status_code == 200, merged.content
    assert Follow.objects.filter(event_id=survivor, user__username="tips_duplicate", reason="merged").exists()
    told = notified("tips_duplicate", duplicate)
    assert told[-1]["milestone"] == "merge" and told[-1]["data"]["merged_into"]["id"] == survivor
    # The merged reporter reads the surviving event's public view, through both routes.
    view = duplicate_author.get(f"/tips/{survivor}")
    assert view.status_code == 200 and view.json()["description"] == ""  # another reporter's words stay theirs
    assert duplicate_author.get(f"/events/{survivor}").status_code == 200
    assert survivor in [e["id"] for e in duplicate_author.get("/events").json()["items"]]

    close(survivor)
    for name in ("tips_reporter", "tips_neighbour", "tips_duplicate"):
        milestones = [n["milestone"] for n in notified(name, survivor) if n["kind"] == NotificationKind.TIP_PROGRESS]
        assert milestones[-3:] == ["dispatch", "handle", "approve"], (name, milestones)
        assert NotificationKind.RATE_REQUEST in [n["kind"] for n in notified(name, survivor)]
    assert "accept" in [n["milestone"] for n in notified("tips_neighbour", survivor)]
    # A follower may rate; unsatisfied with a comment goes back to the dispatcher.
    rated = step(neighbour, survivor, "evaluate", {"satisfaction": "unsatisfied", "comment": "没有清干净"})
    assert rated.status_code == 200 and rated.json()["state"] == "evaluated"
    assert "reopen" in dispatcher.get(f"/events/{survivor}").json()["allowed_steps"]


def test_rejection_tells_followers_the_public_reason(as_persona):
    reporter, neighbour = new_resident("tips_r2"), new_resident("tips_n2")
    event_id = tip(reporter).json()["id"]
    neighbour.post(f"/tips/{event_id}/me-too")
    step(as_persona("demo_dispatcher"), event_id, "reject", {"reason": "已由城管当场处理"})
    for name in ("tips_r2", "tips_n2"):
        last = notified(name, event_id)[-1]
        assert last["milestone"] == "reject" and last["data"]["note"] == "已由城管当场处理"
    assert neighbour.get(f"/tips/{event_id}").json()["steps"][-1]["note"] == "已由城管当场处理"


def test_every_endpoint_a_resident_calls_gives_only_the_public_view(as_persona):
    reporter = new_resident("tips_walker")
    neighbour = new_resident("tips_walker_n")
    dispatcher, handler = as_persona("demo_dispatcher"), as_persona("demo_handler")
    event_id = tip(reporter).json()["id"]
    neighbour.post(f"/tips/{event_id}/me-too")
    step(dispatcher, event_id, "comment", {"note": "内部：联系物业张经理"})
    step(dispatcher, event_id, "accept", {"note": "内部：优先处理"})
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(dispatcher, event_id, "urge", {"note": "内部：催一下"})
    step(handler, event_id, "sign")
    evidence(handler, event_id, before=1, after=1)
    step(handler, event_id, "handle", {"result_note": "已清运"})

    staff = User.objects.filter(username__in=["demo_dispatcher", "demo_handler"])
    forbidden = [u.username for u in staff] + [u.first_name for u in staff if u.first_name]
    forbidden += list(Device.objects.filter(user__in=staff).values_list("device_id", flat=True))
    forbidden += ["内部：", 'tips_walker"', "楼下垃圾堆了三天"]  # internal notes; the other reporter
    for client, own in ((neighbour, False), (reporter, True)):
        answers = {
            "list": client.get("/events"),
            "detail": client.get(f"/events/{event_id}"),
            "history": client.get(f"/events/{event_id}/history"),
            "tip": client.get(f"/tips/{event_id}"),
            "notifications": client.get("/notifications"),
            "photos": client.get(f"/events/{event_id}/photos"),
            "sync": client.post("/sync/pull", {"device_id": device_of(client), "protocol_version": PROTOCOL_VERSION}),
        }
        for name, answer in answers.items():
            assert answer.status_code == 200, (name, answer.status_code, answer.content[:300])
            text = json.dumps(answer.json(), ensure_ascii=False)
            for word in forbidden if not own else forbidden[:-1]:
                assert word not in text, (name, word)
        detail = answers["detail"].json()
        assert detail["holder_platform_id"] is None and detail["holder_user_id"] is None
        if own:  # the reporter's own comment is theirs to read; staff comments are not
            client_note = step(client, event_id, "comment", {"note": "我补充：晚上更多"})
            assert client_note.status_code == 200
            mine = client.get(f"/events/{event_id}/history").json()
            assert mine[-1]["action"] == "comment" and mine[-1]["note"] == "我补充：晚上更多"
            assert "内部：" not in json.dumps(mine, ensure_ascii=False)
        steps = [s["step"] for s in answers["tip"].json()["steps"]]
        assert steps == ["report", "accept", "dispatch", "handle"]
        assert answers["tip"].json()["handled_by"] and answers["tip"].json()["after_photos"]
        if not own:  # a follower sees the event at building level, not the reporter's exact point
            lat, _ = centre_of(GRID_A)
            assert detail["lat"] == round(round(lat * 2000) / 2000, 6)
    photo = neighbour.get(f"/events/{event_id}/photos").json()
    assert photo["after"] and not photo["before"]


def test_staff_see_the_event_unchanged(as_persona):
    event_id = tip(new_resident("tips_staffview")).json()["id"]
    detail = as_persona("demo_dispatcher").get(f"/events/{event_id}").json()
    assert detail["description"] == "楼下垃圾堆了三天" and detail["lat"] == centre_of(GRID_A)[0]


def test_the_public_view_speaks_english_when_asked(as_persona):
    resident = new_resident("tips_en")
    event_id = tip(resident).json()["id"]
    english = ApiClient(resident.token, language="en").get(f"/tips/{event_id}").json()
    assert english["status_label"] == "Received, waiting to be accepted" and english["steps"][0]["label"] == "Reported"


@pytest.mark.parametrize("bad", [{"lat": 91, "lng": 0, "crs": "wgs84"}, {"lat": 30, "lng": 120, "crs": "bd09"}])
def test_bad_locations_are_refused_with_a_detail(as_persona, bad):
    answer = as_persona("demo_resident").post("/tips", {"category": "06.01", "description": "x", "location": bad})
    assert answer.status_code == 422 and answer.json()["detail"]


def test_ids_are_idempotent(as_persona):
    resident = as_persona("demo_resident")
    tip_id = str(uuid.uuid4())
    assert tip(resident, id=tip_id).status_code == 201
    assert tip(resident, id=tip_id).status_code == 200


def test_who_may_call_the_tips_routes(as_persona, anonymous):
    resident = as_persona("demo_resident")
    event_id = tip(resident).json()["id"]
    for path in ("/tips/triage", f"/tips/{event_id}"):
        assert anonymous.get(path).status_code == 401
    assert anonymous.post("/tips", {"description": "x"}).status_code == 401
    assert anonymous.post(f"/tips/{event_id}/me-too").status_code == 401
    assert resident.get("/tips/triage").status_code == 403
    assert as_persona("demo_grid_worker_b").get(f"/tips/{event_id}").status_code == 404  # another grid
    assert as_persona("demo_dispatcher").get(f"/tips/{event_id}").json()["description"] == ""


def test_me_too_only_while_open_and_pushed_to_phones(as_persona, django_capture_on_commit_callbacks, monkeypatch):
    from push.models import PushOutbox, PushToken

    reporter, neighbour = new_resident("tips_r3"), new_resident("tips_n3")
    event_id = tip(reporter).json()["id"]
    neighbour.post(f"/tips/{event_id}/me-too")
    device = Device.objects.get(device_id=device_of(neighbour))
    PushToken.objects.create(device=device, token="fcm-token-n3")
    live: list = []
    monkeypatch.setattr("push.services.deliver_live", live.extend)
    with django_capture_on_commit_callbacks(execute=True):
        step(as_persona("demo_dispatcher"), event_id, "accept")
    note = Notification.objects.get(user=device.user, event_id=event_id, kind=NotificationKind.TIP_PROGRESS)
    assert PushOutbox.objects.filter(notification=note, push_token__token="fcm-token-n3").exists()
    assert (device.user_id, note.pk) in [(user_id, payload["id"]) for user_id, payload in live]
    Event.objects.filter(pk=event_id).update(state="closed")
    late = new_resident("tips_l3").post(f"/tips/{event_id}/me-too")
    assert late.status_code == 409 and late.json()["code"] == "not_open"


def test_the_demo_gives_tips_followers_and_me_toos(as_persona):
    from backend.tips import demo

    reporter = new_resident("tips_seeded")
    for name in ("tips_seed_a", "tips_seed_b", "tips_seed_c"):
        new_resident(name)
    ids = [tip(reporter).json()["id"] for _ in range(4)]
    demo.ME_TOO_SHARE = 1.0
    try:
        counts = demo.seed_followers(seed=7)
    finally:
        demo.ME_TOO_SHARE = 0.3
    assert counts["me_too"] > 0
    follows = Follow.objects.filter(event_id__in=ids, reason="me_too")
    assert follows.exists() and not follows.filter(user__username="tips_seeded").exists()


def test_an_anonymous_tip_merged_away_is_still_tracked_and_rated(anonymous, as_persona):
    lat, lng = centre_of(GRID_A)
    body = {"category": "06.01", "description": "路边垃圾", "location": {"lat": lat, "lng": lng, "crs": "wgs84"}}
    made = anonymous.post("/tips/anonymous", body).json()
    survivor = tip(new_resident("tips_r4")).json()["id"]
    dispatcher = as_persona("demo_dispatcher")
    step(dispatcher, survivor, "accept")
    assert step(dispatcher, made["tip"]["id"], "merge", {"into": survivor}).status_code == 200
    secret = {"tracking_code": made["tracking_code"], "secret": made["secret"]}
    tracked = anonymous.post("/tips/track", secret).json()
    assert tracked["id"] == survivor and tracked["status"] == "accepted"
    close(survivor)
    rated = anonymous.post("/tips/track/rate", {**secret, "satisfaction": "satisfied"})
    assert rated.status_code == 200 and rated.json()["satisfaction"] == "satisfied"
    assert not Notification.objects.filter(user__username="tips_anonymous").exists()


def test_a_tips_photos_follow_the_evidence_rules(as_persona, anonymous):
    from media.models import Photo
    from tests.events_helpers import uploaded_refs

    resident = as_persona("demo_resident")
    refs = uploaded_refs(resident, before=1, after=0)
    made = tip(resident, before_photos=refs["before_photos"])
    assert made.status_code == 201, made.content
    event = Event.objects.get(pk=made.json()["id"])
    assert ["sha256:" + d for d in event.photos["before"]] == refs["before_photos"]
    assert Photo.objects.filter(event=event, phase="before").count() == 1  # the upload is attached as evidence
    lat, lng = centre_of(GRID_A)
    body = {"category": "06.01", "description": "x", "location": {"lat": lat, "lng": lng, "crs": "wgs84"}}
    refused = anonymous.post("/tips/anonymous", {**body, "before_photos": refs["before_photos"]})
    assert refused.status_code == 422


def test_the_anonymous_limit_comes_from_the_environment():
    from django.core.exceptions import ImproperlyConfigured

    from backend.config import read_config

    assert read_config({}).tips_anonymous_per_hour == 10
    assert read_config({"TIPS_ANONYMOUS_PER_HOUR": "3"}).tips_anonymous_per_hour == 3
    with pytest.raises(ImproperlyConfigured, match="TIPS_ANONYMOUS_PER_HOUR"):
        read_config({"TIPS_ANONYMOUS_PER_HOUR": "0"})


# The sync row's fields that the events routes name otherwise, and those they do not show.
SYNC_NAMES = {"category_code": "category"}
SYNC_ONLY = {"signed_at", "handled_at", "updated_at"}


def pulled_event(client: ApiClient, event_id: str) -> dict:
    answer = client.post("/sync/pull", {"device_id": device_of(client), "protocol_version": PROTOCOL_VERSION})
    assert answer.status_code == 200, answer.content[:300]
    rows = [c["data"] for c in answer.json()["changes"] if c["kind"] == "event" and c["id"] == event_id]
    assert len(rows) == 1
    return rows[0]


def test_a_residents_pull_holds_the_public_view_field_by_field(as_persona):
    reporter = new_resident("tips_puller")
    dispatcher, handler = as_persona("demo_dispatcher"), as_persona("demo_handler")
    event_id = tip(reporter).json()["id"]
    step(dispatcher, event_id, "comment", {"note": "内部：联系物业张经理"})
    step(dispatcher, event_id, "accept", {"note": "内部：优先处理"})
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    evidence(handler, event_id, before=1, after=1)
    step(handler, event_id, "handle", {"result_note": "已清运"})
    event = Event.objects.get(pk=event_id)
    assert event.holder_platform_id and event.signed_at and event.handled_at and event.deadline_at  # there to leak

    row = pulled_event(reporter, event_id)
    public = reporter.get(f"/events/{event_id}").json()
    reporter_id = User.objects.get(username="tips_puller").pk
    for name, value in row.items():
        if name in SYNC_ONLY:
            assert value is None, name
        elif name == "reporter_id":  # a resident pulls only their own tips: their own id
            assert value == reporter_id
        else:
            assert value == public[SYNC_NAMES.get(name, name)], (name, value, public[SYNC_NAMES.get(name, name)])
    assert row["holder_platform_id"] is None and row["deadline_at"] is None and row["result_note"] == ""
    assert row["description"] == "楼下垃圾堆了三天"  # their own words come back to them

    text = json.dumps(row, ensure_ascii=False)
    assert "内部：" not in text and "已清运" not in text  # the result is public once closed, not before
    ids = {name for name in row if name.endswith("_id")} - {"grid_id", "community_id", "street_id", "reporter_id"}
    assert ids and all(row[name] is None for name in ids), {name: row[name] for name in ids}


def test_staff_pull_the_event_row_whole(as_persona):
    event_id = tip(new_resident("tips_staffpull")).json()["id"]
    dispatcher = as_persona("demo_dispatcher")
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    handler = as_persona("demo_handler")
    row = pulled_event(handler, event_id)
    assert row["holder_platform_id"] == governance_platform_id() and row["deadline_at"] is not None
    assert row["updated_at"] is not None


def test_a_submitted_tip_answers_what_its_schema_answers(as_persona):
    """``tip_response`` (written directly) against ``PublicTipOut`` through the API's renderer."""
    from django.test import RequestFactory

    from backend.api import api
    from backend.tips.api import PublicTipOut, tip_response
    from backend.tips.public import public_view

    resident = new_resident("tips_schema")
    user = User.objects.get(username="tips_schema")
    first = tip(resident, address_text="清波街 12 号", contact_allowed=True).json()["id"]
    unsure = tip(resident, category=None).json()["id"]
    step(as_persona("demo_dispatcher"), first, "accept")
    for event_id, new in ((first, False), (unsure, True), (unsure, False)):
        event = Event.objects.select_related("category", "grid").get(pk=event_id)
        view = public_view(event, viewer=user, own=True, new=new)
        fast = tip_response(view, 201)
        plain = api.renderer.render(
            RequestFactory().get("/"), PublicTipOut.model_validate(view).model_dump(), response_status=201
        )
        assert (
            json.loads(fast.content) == json.loads(plain) and fast["Content-Type"] == "application/json; charset=utf-8"
        )
        assert json.loads(fast.content)["reported_at"].endswith("+00:00")


@pytest.mark.parametrize(("grid_name", "shown"), [("清波门第1网格", "清波门第1网格"), ("柳翠井巷", "柳翠井巷网格")])
def test_a_grid_workers_unit_is_the_grid_named_once(grid_name, shown):
    from types import SimpleNamespace

    from backend.tips.public import handling_unit

    event = SimpleNamespace(
        holder_department_id=None,
        holder_platform_id=None,
        holder_user_id=7,
        handled_on_spot=False,
        grid=SimpleNamespace(name=grid_name),
    )
    assert handling_unit(event) == shown
