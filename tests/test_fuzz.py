"""Property-based fuzzing of the whole OpenAPI document (schemathesis).

Every operation of ``/api/v1`` is called with generated input, as the demo street
dispatcher and as a resident, in-process through Django's WSGI handler, against the
test database with the seeded demo district. Before each operation's run a few
events are put in different states (reported, in progress, handled, closed), and
identifiers in paths, queries and bodies are drawn partly from what exists (those
events, the persona's grids and device, categories, platforms, sync protocol versions), so generated calls
reach the logic behind the 404s. Each generated call runs inside a savepoint that
is rolled back: writes never pile up between cases.

A call fails the test when the server answers 5xx, when its status is not declared
for its route, when the body breaks the declared schema or has another content
type. ``docs/testing.md``: how to run it alone, its budget, a longer run.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager

import hypothesis.strategies as st
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.accounts.models import User
from backend.accounts.services import auth_login
from backend.api import api
from backend.events.models import Category
from backend.territory.models import Grid
from conftest import PASSWORD, login_as
from sync.services import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION
from tests.events_helpers import GRID_A, GRID_B, department_id, governance_platform_id, report, step

# Examples per operation and persona: 25 keeps both personas at about a minute each on
# SQLite (docs/testing.md). FUZZ_EXAMPLES raises it for a longer local run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]

schema = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema(), default=str)))
schema.app = WSGIHandler()

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI is reproducible
    database=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints the case as found
    suppress_health_check=list(HealthCheck),
)

# Identifiers that exist, by parameter or field name; filled per test by `known`.
KNOWN: dict[str, list] = {}
BODY_REFERENCES = (
    "into",
    "grid_id",
    "category",
    "platform_id",
    "department_id",
    "grid_worker_id",
    "device_id",
    "protocol_version",
)


def _sometimes_known(values: dict) -> st.SearchStrategy:
    """The generated values, each replaced half the time by one that exists."""
    if not isinstance(values, dict):
        return st.just(values)
    names = [name for name in values if KNOWN.get(name)]
    if not names:
        return st.just(values)
    choices = {name: st.one_of(st.just(values[name]), st.sampled_from(KNOWN[name])) for name in names}
    return st.fixed_dictionaries(choices).map(lambda drawn: {**values, **drawn})


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _sometimes_known(path_parameters)


@schema.hook
def flatmap_query(context, query):
    return _sometimes_known(query)


@schema.hook
def flatmap_body(context, body):
    if isinstance(body, dict) and not any(name in body for name in BODY_REFERENCES):
        return st.just(body)
    return _sometimes_known(body)


@contextmanager
def connection_kept():
    """Like Django's test client, keep the test's connection open across the request: a
    bare WSGI handler closes it at the request's end, inside the test's transaction (on
    PostgreSQL; SQLite's in-memory test database ignores the close). The test client puts
    the handlers back after each of its own requests, so this wraps every call."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _events_in_five_states() -> list[str]:
    """A resident's tips in grid A: reported, accepted, in progress, handled, closed."""
    resident, dispatcher = login_as("demo_resident"), login_as("demo_dispatcher")
    handler, secretary = login_as("demo_handler"), login_as("demo_secretary")
    ids = [report(resident).json()["id"] for _ in range(5)]
    for event_id in ids[1:]:
        step(dispatcher, event_id, "accept")
    for event_id in ids[2:]:
        step(dispatcher, event_id, "dispatch", {"platform_id": governance_platform_id()})
        step(handler, event_id, "sign")
    for event_id in ids[3:]:
        step(handler, event_id, "handle", {"result_note": "已清运", "after_photos": [f"sha256:{'a' * 64}"]})
    step(secretary, ids[4], "approve")
    return ids


@pytest.fixture
def known(db, request):
    """Objects the generated calls can name; events only for the routes that take one."""
    KNOWN.clear()
    KNOWN.update(
        grid_id=list(Grid.objects.filter(code__in=[GRID_A, GRID_B]).values_list("pk", flat=True)),
        category=list(Category.objects.filter(code__in=["06.01", "01.01", "02.01"]).values_list("code", flat=True)),
        platform_id=[governance_platform_id()],
        department_id=[department_id()],
        grid_worker_id=[User.objects.get(username="demo_grid_worker").pk],
        protocol_version=list(range(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION + 1)),
    )
    if "event_id}" in request.node.name or "/events]" in request.node.name:
        KNOWN["event_id"] = KNOWN["into"] = _events_in_five_states()
    yield KNOWN
    KNOWN.clear()


def _persona_token(username: str) -> str:
    pair = auth_login(username=username, password=PASSWORD, device_id=f"fuzz-{uuid.uuid4().hex[:12]}", address="::1")
    KNOWN["device_pk"], KNOWN["device_id"] = [pair.device.pk], [pair.device.device_id]
    return pair.access_token


def _call_isolated(case, token: str) -> None:
    with connection_kept(), transaction.atomic():
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        transaction.set_rollback(True)
    case.validate_response(response, checks=CHECKS)


@pytest.fixture
def dispatcher_token(known) -> str:
    return _persona_token("demo_dispatcher")


@pytest.fixture
def resident_token(known) -> str:
    return _persona_token("demo_resident")


@schema.parametrize()
@FUZZ_SETTINGS
def test_it_fuzzes_every_operation_as_the_dispatcher(case, dispatcher_token):
    _call_isolated(case, dispatcher_token)


@schema.parametrize()
@FUZZ_SETTINGS
def test_it_fuzzes_every_operation_as_a_resident(case, resident_token):
    _call_isolated(case, resident_token)
