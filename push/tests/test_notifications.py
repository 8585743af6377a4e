import pytest

from backend.accounts.models import Device
from push.models import Notification, NotificationKind, OutboxState, PushOutbox, PushToken
from push.services import notify
from tests import matrix_registry
from tests.events_helpers import evidence, governance_platform_id, report, step

matrix_registry.cover("/api/v1/notifications", "/api/v1/notifications/read", "/api/v1/devices/{device_pk}/push-token")


@pytest.fixture
def dispatched(as_persona, persona_user, django_capture_on_commit_callbacks):
    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    return event_id


def test_a_dispatch_notifies_the_new_holder_in_the_same_transaction(dispatched, persona_user):
    notes = list(Notification.objects.filter(user=persona_user("demo_grid_worker")))
    assert [n.kind for n in notes] == [NotificationKind.ASSIGNMENT]
    assert notes[0].title.startswith("新任务 SC") and notes[0].data["event_id"] == dispatched


def test_sequences_increase_per_user(db, persona_user):
    user = persona_user("demo_secretary")
    other = persona_user("demo_handler")
    first = notify(users=[user.pk, other.pk], kind=NotificationKind.URGE, title="一")
    second = notify(users=[user.pk], kind=NotificationKind.URGE, title="二")
    assert [n.seq for n in first] == [1, 1] and second[0].seq == 2


def test_delivery_waits_for_the_commit(db, persona_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        notify(users=[persona_user("demo_secretary").pk], kind=NotificationKind.URGE, title="催办")
    assert len(callbacks) == 1  # websocket delivery is registered for after commit, not run inside


def test_the_list_pages_by_sequence_and_marks_read(as_persona, persona_user):
    user = persona_user("demo_secretary")
    for index in range(5):
        notify(users=[user.pk], kind=NotificationKind.URGE, title=f"第{index}条")
    client = as_persona("demo_secretary")
    page = client.get("/notifications", {"after": 1, "limit": 2}).json()
    assert [n["seq"] for n in page["items"]] == [2, 3] and page["has_more"] and page["next_after"] == 3
    assert page["latest_seq"] == 5
    assert client.post("/notifications/read", {"up_to_seq": 3}).json()["marked"] == 3
    unread = client.get("/notifications", {"unread": True}).json()
    assert [n["seq"] for n in unread["items"]] == [4, 5]
    assert client.get("/notifications", {"limit": 0}).status_code == 422


def test_nobody_sees_anothers_notifications(dispatched, as_persona):
    assert as_persona("demo_grid_worker").get("/notifications").json()["items"]
    assert as_persona("demo_grid_worker_b").get("/notifications").json()["items"] == []


def test_a_device_registers_its_push_token_and_assignments_enter_the_outbox(as_persona, persona_user):
    worker = as_persona("demo_grid_worker")
    device = Device.objects.filter(user__username="demo_grid_worker").latest("pk")
    assert worker.post(f"/devices/{device.pk}/push-token", {"token": "fcm-token-0123456789"}).status_code == 200
    assert PushToken.objects.get(device=device).token == "fcm-token-0123456789"
    other = as_persona("demo_grid_worker_b")
    assert other.post(f"/devices/{device.pk}/push-token", {"token": "stolen-token-01234"}).status_code == 404

    dispatcher = as_persona("demo_dispatcher")
    event_id = report(as_persona("demo_resident")).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"grid_worker_id": persona_user("demo_grid_worker").pk})
    outbox = PushOutbox.objects.get(notification__user=persona_user("demo_grid_worker"))
    assert outbox.state == OutboxState.PENDING and outbox.push_token.device == device
    step(dispatcher, event_id, "comment", {"note": "说明"})
    assert PushOutbox.objects.count() == 1  # only assignments and urges wake a phone


def test_the_closed_loop_tells_each_party(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    handler = as_persona("demo_handler")
    secretary = as_persona("demo_secretary")
    resident = as_persona("demo_resident")
    event_id = report(resident).json()["id"]
    step(dispatcher, event_id, "accept")
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(dispatcher, event_id, "urge")
    step(handler, event_id, "return", {"reason": "不归我们"})
    step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
    step(handler, event_id, "sign")
    evidence(handler, event_id, before=1, after=1)
    step(handler, event_id, "handle", {"result_note": "好了"})
    step(secretary, event_id, "rework", {"reason": "再看看"})
    step(handler, event_id, "handle", {"result_note": "真好了"})
    step(secretary, event_id, "approve")
    step(resident, event_id, "evaluate", {"satisfaction": "unsatisfied"})

    def kinds(username):
        return [
            n.kind for n in Notification.objects.filter(user=persona_user(username), event_id=event_id).order_by("seq")
        ]

    assert kinds("demo_handler") == [
        NotificationKind.ASSIGNMENT,
        NotificationKind.URGE,
        NotificationKind.ASSIGNMENT,
        NotificationKind.REWORK,
        NotificationKind.CLOSURE_APPROVED,
    ]
    assert kinds("demo_dispatcher") == [NotificationKind.RETURN, NotificationKind.EVALUATION]
    # The reporter follows the tip (backend/tips): accept, dispatch ×2, handle ×2, approve; then the rating request.
    assert kinds("demo_resident") == [NotificationKind.TIP_PROGRESS] * 6 + [
        NotificationKind.RATE_REQUEST,
        NotificationKind.CLOSURE_APPROVED,
    ]
    assert kinds("demo_grid_worker") == []
