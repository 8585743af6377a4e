"""The replica rule (backend/core/db_router.py). Against a real streaming replica:
``make replica`` (bench/replica_drill.py)."""

from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test import RequestFactory

from backend.core import db_router
from backend.core.db_router import (
    PRIMARY,
    REPLICA,
    PrimaryReplicaRouter,
    is_pinned,
    lagging_reads,
    pin_after_write,
    pin_to_primary,
    read_alias,
)


@pytest.fixture
def with_replica(monkeypatch):
    """A replica alias configured, and the test's own transaction (pytest-django's) not
    counted as one the code under test opened."""
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)
    outer = len(connection.atomic_blocks)
    monkeypatch.setattr(db_router, "in_transaction", lambda: len(connection.atomic_blocks) > outer)


def test_it_reads_from_the_primary_when_there_is_no_replica(db):
    with lagging_reads(None) as lagging:
        assert lagging is False
        assert read_alias() == PRIMARY


def test_it_sends_reads_that_may_lag_to_the_replica_and_writes_to_the_primary(db, with_replica):
    router = PrimaryReplicaRouter()
    assert router.db_for_read(None) == PRIMARY  # outside the marked views
    with lagging_reads(1) as lagging:
        assert lagging is True
        assert router.db_for_read(None) == REPLICA
        assert router.db_for_write(None) == PRIMARY
    assert router.db_for_read(None) == PRIMARY
    assert router.allow_migrate(PRIMARY, "events") and not router.allow_migrate(REPLICA, "events")


def test_it_reads_inside_a_transaction_from_the_primary(db, with_replica):
    with lagging_reads(None), transaction.atomic():
        assert read_alias() == PRIMARY


def test_it_pins_a_user_who_wrote_to_the_primary(db, with_replica, settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 30
    pin_to_primary(7)
    assert is_pinned(7) and not is_pinned(8)
    with lagging_reads(7) as lagging:
        assert lagging is False and read_alias() == PRIMARY
    with lagging_reads(8) as lagging:
        assert lagging is True and read_alias() == REPLICA


class _User:
    is_authenticated = True

    def __init__(self, pk: int):
        self.pk = pk


@pytest.mark.parametrize(
    ("method", "status", "pinned"), [("post", 200, True), ("post", 409, False), ("get", 200, False)]
)
def test_it_pins_after_a_successful_write_request_only(db, settings, method, status, pinned):
    from django.http import HttpResponse

    settings.DATABASE_REPLICA_PIN_SECONDS = 30
    request = getattr(RequestFactory(), method)("/api/v1/anything")
    request.user = _User(41)
    pin_after_write(lambda request: HttpResponse(status=status))(request)
    assert is_pinned(41) is pinned


def test_the_marked_routes_read_with_lag_for_their_user_and_others_do_not(as_persona, persona_user, monkeypatch):
    seen: list = []
    real = db_router.lagging_reads

    @contextmanager
    def spy(user_id):
        seen.append(user_id)
        with real(user_id) as lagging:
            yield lagging

    monkeypatch.setattr(db_router, "lagging_reads", spy)
    client = as_persona("demo_grid_worker")
    worker = persona_user("demo_grid_worker")
    assert client.get("/events", {"queue": "my_tasks"}).status_code == 200
    assert seen == [worker.pk]
    assert client.get("/me").status_code == 200  # not marked: always the primary
    assert seen == [worker.pk]
    client.post("/sync/pull", {"device_id": "some-phone", "protocol_version": 2, "limit": 10})
    assert seen == [worker.pk, worker.pk]


def test_a_push_pins_its_user_when_the_replica_is_configured(as_persona, persona_user, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "backend.core.db_router.pin_after_write"]
    settings.DATABASE_REPLICA_PIN_SECONDS = 30
    client = as_persona("demo_grid_worker")
    worker = persona_user("demo_grid_worker")
    assert not is_pinned(worker.pk)
    assert client.get("/events", {"queue": "my_tasks"}).status_code == 200
    assert not is_pinned(worker.pk)
    assert client.post("/auth/logout", {}).status_code < 400
    assert is_pinned(worker.pk)
