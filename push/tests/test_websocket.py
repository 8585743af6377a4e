"""The websocket against the real ASGI application and real tokens.

Each test is synchronous and runs its async body through ``async_to_sync``: the
consumer's database calls then come back to the test's thread and see the test's
transaction."""

from __future__ import annotations

import time

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db.models import F

from backend.accounts.models import Device, User
from backend.asgi import application
from backend.events.models import Event
from backend.events.services import Actor, DispatchTarget, event_accept, event_dispatch, event_report
from conftest import PASSWORD, login_as
from push.consumers import REPLAY_LIMIT
from push.models import Notification, NotificationKind
from push.services import notify
from tests.events_helpers import GRID_A, centre_of


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """Channels closes "old" connections around every database call; inside a test's
    transaction that would close the test's own connection on PostgreSQL (SQLite's
    in-memory test database ignores it). Production keeps the cleanup."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def connect(
    token: str | None = None, *, subprotocol: bool | str = False, after: int | None = None
) -> WebsocketCommunicator:
    path = "/ws/v1/" + (f"?after={after}" if after is not None else "")
    headers, subprotocols = [], None
    if token and subprotocol:
        subprotocols = [subprotocol if isinstance(subprotocol, str) else "bearer", token]
    elif token:
        headers = [(b"authorization", f"Bearer {token}".encode())]
    return WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)


def run(body):
    async_to_sync(body)()


def token_of(username: str) -> str:
    return login_as(username).token


def dispatch_to_worker(django_capture_on_commit_callbacks, persona_user) -> Event:
    """Report, accept and dispatch to the grid worker of A, running the after-commit
    delivery as a real commit would."""
    dispatcher = Actor(user=persona_user("demo_dispatcher"))
    resident = Actor(user=persona_user("demo_resident"))
    lat, lng = centre_of(GRID_A)
    with django_capture_on_commit_callbacks(execute=True):
        event, _ = event_report(
            actor=resident, source="public_tip", category_code="06.01", description="垃圾", lat=lat, lng=lng
        )
        event = event_accept(event=event, actor=dispatcher)
        event_dispatch(
            event=event, actor=dispatcher, to=DispatchTarget(grid_worker_id=persona_user("demo_grid_worker").pk)
        )
    return event


def test_it_accepts_a_token_in_the_authorization_header(db):
    token = token_of("demo_grid_worker")

    async def body():
        communicator = connect(token)
        connected, _ = await communicator.connect()
        assert connected
        hello = await communicator.receive_json_from()
        assert hello["type"] == "hello" and hello["after"] == 0
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["type"] == "pong"
        await communicator.disconnect()

    run(body)


def test_it_accepts_a_browsers_token_as_a_subprotocol(db):
    token = token_of("demo_dispatcher")

    async def body():
        communicator = connect(token, subprotocol=True)
        connected, chosen = await communicator.connect()
        assert connected and chosen == "bearer"
        assert (await communicator.receive_json_from())["type"] == "hello"
        await communicator.disconnect()
        # Offered capitalised, it is answered as offered (a browser drops any other answer).
        capital = connect(token, subprotocol="Bearer")
        connected, chosen = await capital.connect()
        assert connected and chosen == "Bearer"
        assert (await capital.receive_json_from())["type"] == "hello"
        await capital.disconnect()

    run(body)


def _closes_with(token: str | None, code: int):
    async def body():
        communicator = connect(token)
        await communicator.connect()
        message = await communicator.receive_output()
        assert message == {"type": "websocket.close", "code": code}
        await communicator.disconnect()

    run(body)


def test_it_refuses_a_missing_token(db):
    _closes_with(None, 4001)


def test_it_refuses_a_forged_token(db):
    _closes_with("not-a-token", 4002)


def test_it_refuses_an_expired_token(db):
    claims = jwt.decode(token_of("demo_grid_worker"), options={"verify_signature": False})
    kid, key = next(iter(settings.JWT["KEYS"].items()))
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="HS256", headers={"kid": kid})
    _closes_with(expired, 4003)


def test_it_opens_no_socket_on_a_token_within_the_http_leeway(db):
    """HTTP accepts a token for 30 s past its expiry (clock leeway); a socket closes 4003
    at once instead of saying hello and closing."""
    claims = jwt.decode(token_of("demo_grid_worker"), options={"verify_signature": False})
    kid, key = next(iter(settings.JWT["KEYS"].items()))
    now = int(time.time())
    just_expired = jwt.encode({**claims, "exp": now - 5}, key, algorithm="HS256", headers={"kid": kid})
    _closes_with(just_expired, 4003)


def test_it_refuses_a_revoked_token(db):
    client = login_as("demo_grid_worker")
    client.post("/auth/logout")
    _closes_with(client.token, 4004)


def test_it_closes_when_the_token_expires_during_the_connection(db):
    claims = jwt.decode(token_of("demo_grid_worker"), options={"verify_signature": False})
    kid, key = next(iter(settings.JWT["KEYS"].items()))
    soon = jwt.encode({**claims, "exp": int(time.time()) + 1}, key, algorithm="HS256", headers={"kid": kid})

    async def body():
        communicator = connect(soon)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()
        assert await communicator.receive_output(timeout=4) == {"type": "websocket.close", "code": 4003}
        await communicator.disconnect()

    run(body)


def test_a_dispatch_reaches_the_connected_grid_worker_live(db, persona_user, django_capture_on_commit_callbacks):
    worker_token, other_token = token_of("demo_grid_worker"), token_of("demo_grid_worker_b")

    async def body():
        worker, other = connect(worker_token), connect(other_token)
        for communicator in (worker, other):
            assert (await communicator.connect())[0]
            await communicator.receive_json_from()
        event = await database_sync_to_async(dispatch_to_worker)(django_capture_on_commit_callbacks, persona_user)
        message = await worker.receive_json_from(timeout=2)
        assert message["type"] == "notification" and message["kind"] == NotificationKind.ASSIGNMENT
        assert message["event_id"] == str(event.pk) and message["seq"] == 1
        assert await other.receive_nothing(timeout=0.3)  # grid B's worker hears nothing of A's task
        await worker.send_json_to({"type": "ack", "seq": message["seq"]})
        assert await worker.receive_json_from() == {"type": "acked", "seq": 1}
        await worker.disconnect()
        await other.disconnect()

    run(body)
    assert Notification.objects.get(user=persona_user("demo_grid_worker")).delivered_at is not None


def test_the_street_feed_reaches_its_dispatcher_only(db, persona_user, django_capture_on_commit_callbacks):
    dispatcher_token, secretary_token = token_of("demo_dispatcher"), token_of("demo_secretary")

    async def body():
        dispatcher, secretary = connect(dispatcher_token), connect(secretary_token)
        for communicator in (dispatcher, secretary):
            assert (await communicator.connect())[0]
            await communicator.receive_json_from()
        event = await database_sync_to_async(dispatch_to_worker)(django_capture_on_commit_callbacks, persona_user)
        states = []
        for _ in range(3):  # report, accept, dispatch
            message = await dispatcher.receive_json_from(timeout=2)
            assert message["type"] == "event.changed" and message["event"]["id"] == str(event.pk)
            states.append(message["event"]["state"])
        assert states == ["reported", "accepted", "dispatched"]
        assert await secretary.receive_nothing(timeout=0.3)
        await dispatcher.disconnect()
        await secretary.disconnect()

    run(body)


def test_it_replays_what_was_missed_after_a_reconnect(db, persona_user):
    user = persona_user("demo_secretary")
    for index in range(5):
        notify(users=[user.pk], kind=NotificationKind.URGE, title=f"第{index}条")
    token = token_of("demo_secretary")

    async def body():
        communicator = connect(token, after=2)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from())["after"] == 2
        seqs = [(await communicator.receive_json_from())["seq"] for _ in range(3)]
        assert seqs == [3, 4, 5]
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(body)


def test_it_asks_for_a_resync_beyond_the_replay_bound(db, persona_user):
    user = persona_user("demo_secretary")
    Notification.objects.bulk_create(
        [
            Notification(user=user, seq=seq, kind=NotificationKind.URGE, title="催办")
            for seq in range(1, REPLAY_LIMIT + 3)
        ]
    )
    token = token_of("demo_secretary")

    async def body():
        communicator = connect(token, after=0)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        assert await communicator.receive_json_from() == {"type": "resync", "after": 0, "latest_seq": REPLAY_LIMIT + 2}
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(body)


def test_it_answers_an_unknown_message_without_closing(db):
    token = token_of("demo_resident")

    async def body():
        communicator = connect(token)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        await communicator.send_json_to({"type": "subscribe", "street": 1})
        assert (await communicator.receive_json_from())["code"] == "unknown_message"
        await communicator.disconnect()

    run(body)


def test_it_answers_a_frame_that_is_not_json_and_stays_open(db):
    token = token_of("demo_resident")

    async def body():
        communicator = connect(token)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        for text in ("not json {", ""):
            await communicator.send_input({"type": "websocket.receive", "text": text})
            error = await communicator.receive_json_from()
            assert error["type"] == "error" and error["code"] == "invalid_json" and error["message"]
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}
        await communicator.disconnect()

    run(body)


def test_it_answers_a_binary_frame_and_stays_open(db):
    token = token_of("demo_resident")

    async def body():
        communicator = connect(token)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        await communicator.send_to(bytes_data=b'{"type": "ping"}')
        error = await communicator.receive_json_from()
        assert error["type"] == "error" and error["code"] == "binary_frame" and error["message"]
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}
        await communicator.disconnect()

    run(body)


@pytest.mark.parametrize("after", ["abc", "-5", "1.5", "", " 3", str(2**63)])
def test_it_refuses_an_after_that_is_not_a_sequence_number(db, after):
    token = token_of("demo_secretary")

    async def body():
        communicator = WebsocketCommunicator(
            application, f"/ws/v1/?after={after}", headers=[(b"authorization", f"Bearer {token}".encode())]
        )
        await communicator.connect()
        error = await communicator.receive_json_from()
        assert error["type"] == "error" and error["code"] == "invalid_after"
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4400}
        await communicator.disconnect()

    run(body)


@pytest.mark.parametrize("seq", [-1, True, 2**63, "3", None])
def test_it_answers_an_ack_without_a_sequence_number(db, seq):
    token = token_of("demo_resident")

    async def body():
        communicator = connect(token)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        await communicator.send_json_to({"type": "ack", "seq": seq})
        assert (await communicator.receive_json_from())["code"] == "invalid_ack"
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}
        await communicator.disconnect()

    run(body)


def _revoke_closes_the_socket(revoke, persona_user, django_capture_on_commit_callbacks):
    """Connect the grid worker on two devices, revoke the first through ``revoke(client)``
    (committing), and check: that socket closes with 4004, the other still gets the next
    assignment."""
    revoked_client, other_token = login_as("demo_grid_worker"), token_of("demo_grid_worker")

    def revoke_and_commit():
        with django_capture_on_commit_callbacks(execute=True):
            revoke(revoked_client)

    async def body():
        revoked, other = connect(revoked_client.token), connect(other_token)
        for communicator in (revoked, other):
            assert (await communicator.connect())[0]
            await communicator.receive_json_from()
        await database_sync_to_async(revoke_and_commit)()
        assert await revoked.receive_output(timeout=1) == {"type": "websocket.close", "code": 4004}
        await database_sync_to_async(dispatch_to_worker)(django_capture_on_commit_callbacks, persona_user)
        assert (await other.receive_json_from(timeout=2))["kind"] == NotificationKind.ASSIGNMENT
        assert await revoked.receive_nothing(timeout=0.3)
        await revoked.disconnect()
        await other.disconnect()

    run(body)


def test_it_closes_the_socket_of_a_device_that_logs_out(db, persona_user, django_capture_on_commit_callbacks):
    def logout(client):
        assert client.post("/auth/logout").status_code == 200

    _revoke_closes_the_socket(logout, persona_user, django_capture_on_commit_callbacks)


def test_it_closes_the_socket_of_a_device_an_admin_revokes(db, persona_user, django_capture_on_commit_callbacks):
    admin = login_as("demo_admin")

    def admin_revoke(client):
        device_pk = client.get("/me").json()["device"]["id"]
        assert admin.post(f"/devices/{device_pk}/revoke").status_code == 200

    _revoke_closes_the_socket(admin_revoke, persona_user, django_capture_on_commit_callbacks)


def test_it_closes_the_socket_when_a_reused_refresh_token_revokes_the_device(
    db, persona_user, django_capture_on_commit_callbacks
):
    from backend.accounts.services import auth_login, auth_refresh

    def reuse(client):
        device_id = client.get("/me").json()["device"]["device_id"]
        pair = auth_login(username="demo_grid_worker", password=PASSWORD, device_id=device_id, address="127.0.0.1")
        client.token = pair.access_token
        auth_refresh(refresh_token=pair.refresh_token, device_id=device_id)
        assert (
            client.post("/auth/refresh", {"refresh_token": pair.refresh_token, "device_id": device_id}).json()["code"]
            == "refresh_reused"
        )

    _revoke_closes_the_socket(reuse, persona_user, django_capture_on_commit_callbacks)


@pytest.mark.parametrize("change", ["device_revoked", "account_disabled"])
def test_it_checks_the_token_before_a_live_message_too(db, persona_user, monkeypatch, change):
    """Should the revocation message be lost (or the account be disabled, which sends
    none), the next live message finds the token no longer good and closes instead."""
    monkeypatch.setattr("push.consumers.REVALIDATE_SECONDS", 0)
    client = login_as("demo_grid_worker")
    device_pk = client.get("/me").json()["device"]["id"]
    user_id = persona_user("demo_grid_worker").pk

    def spoil():
        if change == "device_revoked":
            Device.objects.filter(pk=device_pk).update(token_generation=F("token_generation") + 1)
        else:
            User.objects.filter(pk=user_id).update(is_active=False)

    async def body():
        communicator = connect(client.token)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()
        await database_sync_to_async(spoil)()
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from() == {"type": "pong"}  # open until something is delivered
        await get_channel_layer().group_send(
            f"user.{user_id}",
            {"type": "notify.message", "notification": {"seq": 1, "kind": NotificationKind.URGE, "title": "催办"}},
        )
        assert await communicator.receive_output(timeout=1) == {"type": "websocket.close", "code": 4004}
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(body)


def test_it_checks_the_expiry_before_a_live_message_too(db, persona_user, monkeypatch):
    """Should the expiry timer not fire, a live message after the expiry closes with 4003."""

    async def no_timer(self, expires_at):
        return None

    monkeypatch.setattr("push.consumers.NotificationConsumer._close_when_expired", no_timer)
    claims = jwt.decode(token_of("demo_grid_worker"), options={"verify_signature": False})
    kid, key = next(iter(settings.JWT["KEYS"].items()))
    # Expires in one to two seconds (``exp`` is whole seconds: ``+ 1`` could leave a few
    # milliseconds, and a token expired at connect is refused before the hello): it
    # connects, then expires with no timer to close it.
    exp = int(time.time()) + 2
    expiring = jwt.encode({**claims, "exp": exp}, key, algorithm="HS256", headers={"kid": kid})
    user_id = persona_user("demo_grid_worker").pk

    async def body():
        import asyncio

        communicator = connect(expiring)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from())["type"] == "hello"
        await asyncio.sleep(exp - time.time() + 0.6)
        await get_channel_layer().group_send(
            f"user.{user_id}",
            {"type": "notify.message", "notification": {"seq": 1, "kind": NotificationKind.URGE, "title": "催办"}},
        )
        assert await communicator.receive_output(timeout=1) == {"type": "websocket.close", "code": 4003}
        await communicator.disconnect()

    run(body)


def test_it_hears_a_revocation_committed_while_it_connects(db, monkeypatch, django_capture_on_commit_callbacks):
    """The device is revoked just after the socket's database check passed: the socket
    still closes with 4004."""
    from backend.accounts import services as account_services
    from push import consumers

    client = login_as("demo_grid_worker")
    device = Device.objects.get(pk=client.get("/me").json()["device"]["id"])
    checked = consumers._authenticate

    def check_then_revoke(token):
        found = checked(token)
        with django_capture_on_commit_callbacks(execute=True):
            account_services.device_revoke(device=device, by=device.user)
        return found

    monkeypatch.setattr(consumers, "_authenticate", check_then_revoke)

    async def body():
        communicator = connect(client.token)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from())["type"] == "hello"
        assert await communicator.receive_output(timeout=1) == {"type": "websocket.close", "code": 4004}
        await communicator.disconnect()

    run(body)
