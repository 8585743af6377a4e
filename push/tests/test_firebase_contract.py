"""The real firebase-admin code path, against a fake FCM endpoint mounted on its
HTTP session (as firebase-admin's own tests do): the request it builds from our
message, and how our sender maps each answer. The fake sender's tests in
test_delivery.py assert the same outcomes."""

from __future__ import annotations

import json
import uuid

import firebase_admin
import pytest
import requests
from firebase_admin import credentials, messaging
from google.oauth2.credentials import Credentials as GoogleCredentials

from backend.accounts.models import Device
from push.delivery import drain_outbox
from push.models import NotificationKind, OutboxState, PushOutbox, PushToken
from push.senders import FirebaseSender
from push.services import notify

PROJECT = "grid-governance-test"


class StaticCredential(credentials.Base):
    """An OAuth2 token that needs no refresh: no Google server is asked."""

    def get_credential(self):
        return GoogleCredentials(token="test-access-token")


class FakeFcm(requests.adapters.HTTPAdapter):
    """Answers like https://fcm.googleapis.com/v1/projects/*/messages:send."""

    def __init__(self, status: int = 200, error: str | None = None):
        super().__init__()
        self.status, self.error, self.requests = status, error, []

    def send(self, request, **kwargs):
        self.requests.append(request)
        response = requests.Response()
        response.status_code = self.status
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/json"
        if self.error is None:
            body = {"name": f"projects/{PROJECT}/messages/0:1500415314455276%31bd1c9631bd1c96"}
        else:
            status = {
                400: "INVALID_ARGUMENT",
                403: "PERMISSION_DENIED",
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE",
            }[self.status]
            body = {
                "error": {
                    "status": status,
                    "message": self.error,
                    "details": [
                        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": self.error}
                    ],
                }
            }
        response._content = json.dumps(body).encode()
        return response


@pytest.fixture
def fcm():
    app = firebase_admin.initialize_app(
        StaticCredential(), {"projectId": PROJECT, "httpTimeout": 2}, name=f"test-{uuid.uuid4()}"
    )
    service = messaging._get_messaging_service(app)

    def mount(status: int = 200, error: str | None = None) -> FakeFcm:
        adapter = FakeFcm(status, error)
        service._client.session.mount("https://fcm.googleapis.com", adapter)
        return adapter

    yield app, mount
    firebase_admin.delete_app(app)


def test_it_sends_a_high_priority_data_message(fcm):
    app, mount = fcm
    adapter = mount()
    result = FirebaseSender(app).send(token="device-token-1", data={"notification_id": "42", "kind": "assignment"})
    assert result.ok and result.message_id.startswith(f"projects/{PROJECT}/messages/")
    request = adapter.requests[0]
    assert request.url == f"https://fcm.googleapis.com/v1/projects/{PROJECT}/messages:send"
    assert request.headers["Authorization"] == "Bearer test-access-token"
    message = json.loads(request.body)["message"]
    assert message["token"] == "device-token-1"
    assert message["data"] == {"notification_id": "42", "kind": "assignment"}
    assert message["android"]["priority"] == "high"
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert "notification" not in message  # data only: nothing personal shown by the OS


@pytest.mark.parametrize(
    "status, error, outcome",
    [
        (404, "UNREGISTERED", "unregistered"),
        (403, "SENDER_ID_MISMATCH", "sender_id_mismatch"),
        (429, "QUOTA_EXCEEDED", "quota"),
        (503, "UNAVAILABLE", "unavailable"),
        (400, "INVALID_ARGUMENT", "invalid"),
    ],
)
def test_it_maps_each_fcm_answer_to_our_outcome(fcm, status, error, outcome):
    app, mount = fcm
    mount(status, error)
    result = FirebaseSender(app).send(token="device-token-1", data={"notification_id": "1", "kind": "urge"})
    assert not result.ok and result.error == outcome


def test_the_outbox_deletes_a_token_that_fcm_calls_unregistered(fcm, db, persona_user):
    app, mount = fcm
    mount(404, "UNREGISTERED")
    device = Device.objects.create(user=persona_user("demo_grid_worker"), device_id="phone-fcm")
    PushToken.objects.create(device=device, token="stale-token-123")
    notify(users=[device.user_id], kind=NotificationKind.ASSIGNMENT, title="新任务")
    result = drain_outbox(sender=FirebaseSender(app))
    assert result.tokens_deleted == 1 and not PushToken.objects.exists()
    assert PushOutbox.objects.get().state == OutboxState.DROPPED
