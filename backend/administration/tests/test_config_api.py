"""The catalogue, the admission list and the duty list through the admin API and the
admin pages, with every change in the audit (who, when, what)."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry

from backend.core.audit import audit_trail
from backend.events.models import Category
from tests.events_helpers import report, step

pytestmark = pytest.mark.django_db


def send(client, method: str, path: str, body: dict | None = None):
    return getattr(client.client, method)(
        f"/api/v1{path}",
        json.dumps(body or {}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {client.token}"},
    )


def test_the_catalogue_is_edited_deactivated_not_deleted_in_use_and_audited(as_persona):
    admin = as_persona("demo_admin")
    created = admin.post(
        "/admin/categories",
        {
            "code": "06.90",
            "name": "共享单车乱停放",
            "name_en": "Misparked shared bikes",
            "parent_code": "06",
            "platform_kind": "enforcement",
            "deadline_unit": "working_hours",
            "deadline_amount": 8,
            "anonymous_allowed": True,
            "duplicate_radius_m": 80,
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["grid_admissible"] is False
    changed = send(admin, "patch", "/admin/categories/06.90", {"deadline_amount": 4, "after_photos_required": 2})
    assert changed.status_code == 200 and changed.json()["deadline_amount"] == 4
    # The admission list is not a catalogue field: sending it changes nothing.
    send(admin, "patch", "/admin/categories/06.90", {"grid_admissible": True})
    assert Category.objects.get(code="06.90").grid_admissible is False

    in_use = "06.02"
    assert report(as_persona("demo_grid_worker"), category=in_use, source="grid_patrol").status_code == 201
    refused = send(admin, "delete", f"/admin/categories/{in_use}")
    assert refused.status_code == 409 and refused.json()["code"] == "category_in_use"
    off = send(admin, "patch", f"/admin/categories/{in_use}", {"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert report(as_persona("demo_grid_worker"), category=in_use, source="grid_patrol").status_code == 422

    assert send(admin, "delete", "/admin/categories/06.90").status_code == 204
    assert send(as_persona("demo_dispatcher"), "patch", "/admin/categories/06.01", {"name": "x"}).status_code == 403

    trail = [(e.user.username, e.action_flag, e.change_message) for e in LogEntry.objects.order_by("pk")]
    assert ("demo_admin", 1) == trail[-4][:2] and "06.90" in trail[-4][2]  # added
    assert "处置时限" in trail[-3][2] and '"from": 8' in trail[-3][2] and '"to": 4' in trail[-3][2]
    assert "启用" in trail[-2][2] and trail[-1][1] == 3  # deactivated, deleted
    audit = admin.get("/admin/audit", {"limit": 4}).json()
    assert [a["action"] for a in audit] == ["delete", "change", "change", "add"]
    assert all(a["user"] == "demo_admin" and a["at"] for a in audit)


def test_the_admission_list_changes_only_through_an_approved_request(as_persona, persona_user):
    category = Category.objects.get(code="01.03")  # 物业纠纷: not on the admission list
    assert not category.grid_admissible
    dispatcher, commander = as_persona("demo_dispatcher"), as_persona("demo_commander")
    worker_id = persona_user("demo_grid_worker").pk
    event_id = report(as_persona("demo_grid_worker"), category="01.03", source="grid_patrol").json()["id"]
    step(dispatcher, event_id, "accept")
    assert step(dispatcher, event_id, "dispatch", {"grid_worker_id": worker_id}).json()["code"] == (
        "not_on_admission_list"
    )

    made = commander.post("/admin/admission-requests", {"category": "01.03", "admit": True, "reason": "社区议事会建议"})
    assert made.status_code == 201, made.content
    request_id = made.json()["id"]
    again = dispatcher.post("/admin/admission-requests", {"category": "01.03", "admit": True, "reason": "再次"})
    assert again.status_code == 409 and again.json()["code"] == "admission_pending"
    own = commander.post(f"/admin/admission-requests/{request_id}/approve", {})
    assert own.status_code == 403 and own.json()["code"] == "admission_own_request"
    assert dispatcher.post(f"/admin/admission-requests/{request_id}/approve", {}).status_code == 403
    category.refresh_from_db()
    assert not category.grid_admissible  # a request alone changes nothing

    approved = as_persona("demo_admin").post(f"/admin/admission-requests/{request_id}/approve", {"note": "同意"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["reason"] == "社区议事会建议" and approved.json()["decided_by"] == "demo_admin"
    category.refresh_from_db()
    assert category.grid_admissible
    assert step(dispatcher, event_id, "dispatch", {"grid_worker_id": worker_id}).status_code == 200
    change = audit_trail(category).first()
    assert change.user.username == "demo_admin" and "社区议事会建议" in change.change_message
    again = as_persona("demo_admin").post(f"/admin/admission-requests/{request_id}/refuse", {})
    assert again.status_code == 409


def test_changes_in_the_admin_pages_are_in_its_history(client, persona_user):
    client.force_login(persona_user("demo_admin"))
    category = Category.objects.get(code="06.01")
    page = client.get(f"/admin/events/category/{category.pk}/change/")
    assert page.status_code == 200
    form = {
        name: getattr(category, name)
        for name in (
            "code",
            "name",
            "name_en",
            "platform_kind",
            "default_handler",
            "default_department_code",
            "severity",
            "deadline_unit",
            "before_photos_required",
            "after_photos_required",
            "duplicate_radius_m",
        )
    }
    form.update(parent=category.parent_id, deadline_amount=2, active="on", anonymous_allowed="on")
    saved = client.post(f"/admin/events/category/{category.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    category.refresh_from_db()
    assert category.deadline_amount == 2 and category.anonymous_allowed
    entry = audit_trail(category).first()
    assert entry.user.username == "demo_admin" and entry.action_flag == 2
    assert "处置时限" in entry.get_change_message()
    history = client.get(f"/admin/events/category/{category.pk}/history/").content.decode()
    assert "demo_admin" in history or "吴管理" in history


def test_the_admin_actions_decide_requests_under_the_same_rules(client, persona_user, as_persona):
    from backend.administration.models import AdmissionRequest

    admin = persona_user("demo_admin")
    category = Category.objects.get(code="01.05")
    own = AdmissionRequest.objects.create(category=category, admit=True, reason="试点", requested_by=admin)
    client.force_login(admin)
    changelist = "/admin/administration/admissionrequest/"
    client.post(changelist, {"action": "approve", "_selected_action": [own.pk]})
    own.refresh_from_db()
    category.refresh_from_db()
    assert own.status == "pending" and not category.grid_admissible  # not their own

    own.requested_by = persona_user("demo_secretary")
    own.save(update_fields=["requested_by"])
    client.post(changelist, {"action": "approve", "_selected_action": [own.pk]})
    own.refresh_from_db()
    category.refresh_from_db()
    assert own.status == "approved" and own.decided_by == admin and category.grid_admissible
    # A category with events is not deleted from the admin either.
    assert report(as_persona("demo_grid_worker"), category="06.01", source="grid_patrol").status_code == 201
    used = Category.objects.get(code="06.01")
    assert client.get(f"/admin/events/category/{used.pk}/delete/").status_code == 403


def test_duty_lines_are_listed_replaced_and_removed_with_the_audit(as_persona):
    admin = as_persona("demo_admin")
    body = {"category": "05.01", "handler": "platform", "platform_kind": "market"}
    first = send(admin, "put", "/admin/duty-list", body).json()
    second = send(admin, "put", "/admin/duty-list", {**body, "note": "改为市场监管平台"}).json()
    assert first["id"] == second["id"] and second["note"] == "改为市场监管平台"
    bad = send(admin, "put", "/admin/duty-list", {"category": "05.01", "handler": "platform"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_duty"
    assert send(admin, "delete", f"/admin/duty-list/{first['id']}").status_code == 204
    assert admin.get("/admin/duty-list", {"category": "05.01"}).json() == []
    actions = [a["action"] for a in admin.get("/admin/audit", {"limit": 3}).json()]
    assert actions == ["delete", "change", "add"]
    pending = as_persona("demo_commander").post(
        "/admin/admission-requests", {"category": "05.01", "admit": True, "reason": "试点"}
    )
    assert [r["id"] for r in admin.get("/admin/admission-requests", {"status": "pending"}).json()] == [
        pending.json()["id"]
    ]
    assert admin.get("/admin/admission-requests", {"status": "approved"}).json() == []
