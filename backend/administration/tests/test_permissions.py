"""Every persona against every configuration route: who may read, change, request,
approve, and open the dispatch form (the permission matrix's rows for these routes)."""

from __future__ import annotations

import pytest

from backend.accounts.scope import scope_of
from backend.administration.services import APPROVERS, CONFIGURERS, REQUESTERS
from backend.events.access import can_see
from backend.events.models import Event
from backend.events.workflow import STEPS, relation_for
from conftest import PERSONAS
from tests import matrix_registry
from tests.events_helpers import report

ROUTES = {
    "/api/v1/admin/calendar": REQUESTERS,
    "/api/v1/admin/calendar/{year}": CONFIGURERS,
    "/api/v1/admin/categories": CONFIGURERS,
    "/api/v1/admin/categories/{code}": CONFIGURERS,
    "/api/v1/admin/admission-requests": REQUESTERS,
    "/api/v1/admin/admission-requests/{request_id}/approve": APPROVERS,
    "/api/v1/admin/admission-requests/{request_id}/refuse": APPROVERS,
    "/api/v1/admin/duty-list": CONFIGURERS,
    "/api/v1/admin/duty-list/{line_id}": CONFIGURERS,
    "/api/v1/admin/audit": APPROVERS,
    "/api/v1/events/{event_id}/dispatch-targets": (),
}
matrix_registry.cover(*ROUTES)

pytestmark = pytest.mark.django_db


def allowed(status: int, roles, user) -> bool:
    expected = user.is_superuser or scope_of(user).has(*roles)
    assert status != 500
    return (status != 403) == expected


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_may_do_what_its_role_allows(as_persona, persona_user, persona):
    client, user = as_persona(persona), persona_user(persona)
    for path in ("/admin/calendar", "/admin/calendar/2026", "/admin/categories", "/admin/admission-requests"):
        assert allowed(client.get(path).status_code, REQUESTERS, user), path
    assert allowed(client.get("/admin/duty-list").status_code, REQUESTERS, user)
    assert allowed(client.get("/admin/audit").status_code, APPROVERS, user)
    # Writes: a role that may not gets 403 before anything is looked at.
    put = client.client.put(
        "/api/v1/admin/calendar/2031",
        '{"days": []}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {client.token}"},
    )
    assert allowed(put.status_code, CONFIGURERS, user)
    patch = client.client.patch(
        "/api/v1/admin/categories/06.01",
        '{"deadline_amount": 2}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {client.token}"},
    )
    assert allowed(patch.status_code, CONFIGURERS, user)
    made = client.post("/admin/admission-requests", {"category": "01.05", "admit": True, "reason": "试点"})
    assert allowed(made.status_code, REQUESTERS, user)
    decided = client.post("/admin/admission-requests/999999/approve", {})
    assert allowed(decided.status_code, APPROVERS, user)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_dispatch_form_follows_the_dispatch_step(as_persona, persona_user, persona):
    event_id = report(as_persona("demo_grid_worker"), category="06.01", source="grid_patrol").json()["id"]
    event, scope = Event.objects.get(pk=event_id), scope_of(persona_user(persona))
    status = as_persona(persona).get(f"/events/{event_id}/dispatch-targets").status_code
    if relation_for(STEPS["dispatch"], scope, event):
        assert status == 200
    else:
        assert status == (403 if can_see(scope, event) else 404)
