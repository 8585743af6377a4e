"""Each hot write path is held to its count of SQL statements, whole request.

A later change that adds a query per row, or one more look-up per step, fails here
rather than in a benchmark. The counts are taken on the second of two identical runs
(the first warms the per-process caches: catalogue, platforms, compiled statements),
and leave out SAVEPOINT/RELEASE (the test's own transaction turns every ``atomic``
into savepoints, which production does not have)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync.tests.test_push import Phone, offline_report
from tests.events_helpers import GRID_A, centre_of, evidence, governance_platform_id, step

pytestmark = pytest.mark.django_db

# path -> statements. Change a count deliberately, with the reason in the commit message.
EXPECTED = {"rest_report": 8, "accept": 12, "dispatch": 13, "sign": 7, "handle": 12, "approve": 12}
# On PostgreSQL a step writes its event and history row in one statement
# (``fastpath.record``), its change-log rows with the KPIs' dirty mark in one
# (``fastpath.changelog``, three before) and its notifications in one
# (``fastpath.notifications``, four before): docs/architecture.md, "Writes: a step".
# On both, the locked read of the event brings its reporter, the followers a step tells
# and the handlers of the unit holding it (``events.selectors.access_event``, three
# statements before), and a dispatch's target platform its duty lines and handlers
# (``steps.target_platform``, two before); on PostgreSQL the change log, notifications
# and access log are one statement (``fastpath.tail``, three before), and a report's
# change-log rows go in with its KPIs' dirty mark in one (``fastpath.changelog.insert``,
# two before).
EXPECTED_POSTGRES = {"rest_report": 7, "accept": 4, "dispatch": 5, "sign": 4, "handle": 5, "approve": 5}

EXPECTED_PUSH = {"push_1_reports": 12, "push_100_reports": 12}
EXPECTED_PUSH_POSTGRES = {"push_1_reports": 11, "push_100_reports": 11}


def data_statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def measured(fn) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as seen:
        result = fn()
    return result, data_statements(seen.captured_queries)


def walk(clients) -> dict[str, list[str]]:
    """One event through the platform loop; the statements of each request."""
    resident, dispatcher, handler, secretary = clients
    counts = {}
    lat, lng = centre_of(GRID_A)
    body = {"source": "public_tip", "category": "06.01", "description": "小区门口有一堆暴露垃圾"}
    body["location"] = {"lat": lat, "lng": lng, "crs": "wgs84"}
    created, counts["rest_report"] = measured(lambda: resident.post("/events", body))
    event_id = created.json()["id"]
    _, counts["accept"] = measured(lambda: step(dispatcher, event_id, "accept"))
    platform = governance_platform_id()
    _, counts["dispatch"] = measured(lambda: step(dispatcher, event_id, "dispatch", {"platform_id": platform}))
    _, counts["sign"] = measured(lambda: step(handler, event_id, "sign"))
    evidence(handler, event_id, before=1, after=1)
    _, counts["handle"] = measured(lambda: step(handler, event_id, "handle", {"result_note": "已清运"}))
    closed, counts["approve"] = measured(lambda: step(secretary, event_id, "approve"))
    assert closed.json()["state"] == "closed", closed.content
    return counts


def pushes(phone: Phone) -> dict[str, list[str]]:
    counts = {}
    for size in (1, 100):
        batch = [offline_report(phone) for _ in range(size)]
        answer, counts[f"push_{size}_reports"] = measured(lambda batch=batch: phone.push(batch))
        assert [r["status"] for r in answer.json()["results"]] == ["applied"] * size
    return counts


def test_a_push_of_reports_keeps_its_statement_count_whatever_its_size(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    pushes(phone)  # warm
    counts = {path: len(statements) for path, statements in pushes(phone).items()}
    assert counts == (EXPECTED_PUSH_POSTGRES if connection.vendor == "postgresql" else EXPECTED_PUSH)


def test_each_step_of_the_loop_keeps_its_statement_count(as_persona):
    clients = [as_persona(name) for name in ("demo_resident", "demo_dispatcher", "demo_handler", "demo_secretary")]
    walk(clients)  # warm
    counts = {path: len(statements) for path, statements in walk(clients).items()}
    assert counts == (EXPECTED_POSTGRES if connection.vendor == "postgresql" else EXPECTED)
