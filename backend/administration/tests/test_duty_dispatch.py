"""The duty list on the dispatch form: the suggestion first, each target's load, and a
reason asked for (and kept in the history) when the dispatch departs from the list —
through REST and through a phone's sync push alike."""

from __future__ import annotations

import pytest

from backend.events.models import Event, EventAction
from backend.events.workflow import OPEN_STATES
from backend.territory.models import Department, Platform, PlatformKind
from sync.tests.test_push import Phone
from tests.events_helpers import GRID_A, report, step

pytestmark = pytest.mark.django_db
STREET = GRID_A[:9]


def accepted_event(as_persona, category: str) -> str:
    event_id = report(as_persona("demo_grid_worker"), category=category, source="grid_patrol").json()["id"]
    assert step(as_persona("demo_dispatcher"), event_id, "accept").status_code == 200
    return event_id


def test_the_form_suggests_the_street_line_first_and_off_list_needs_a_reason(as_persona):
    admin, dispatcher = as_persona("demo_admin"), as_persona("demo_dispatcher")
    justice = Department.objects.get(code="justice")
    line = admin.client.put(
        "/api/v1/admin/duty-list",
        {"category": "01.03", "street_code": STREET, "handler": "department", "department_id": justice.pk},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert line.status_code == 200, line.content
    event_id = accepted_event(as_persona, "01.03")

    form = dispatcher.get(f"/events/{event_id}/dispatch-targets").json()
    assert form["suggestion"]["source"] == "street" and form["suggestion"]["binding"] is True
    first = form["targets"][0]
    assert (first["kind"], first["id"], first["suggested"]) == ("department", justice.pk, True)
    assert sum(t["suggested"] for t in form["targets"]) == 1
    governance = Platform.objects.get(street__code=STREET, kind=PlatformKind.GOVERNANCE)
    shown = {(t["kind"], t["id"]): t["open_events"] for t in form["targets"]}
    assert (
        shown[("platform", governance.pk)]
        == Event.objects.filter(holder_platform=governance, state__in=OPEN_STATES).count()
    )
    assert not any(t["kind"] == "grid_worker" for t in form["targets"])  # 01.03 is not on the admission list

    refused = step(dispatcher, event_id, "dispatch", {"platform_id": governance.pk})
    assert refused.status_code == 422 and refused.json()["code"] == "dispatch_reason_required"
    assert refused.json()["detail"]["suggested"]["department_id"] == justice.pk
    done = step(
        dispatcher, event_id, "dispatch", {"platform_id": governance.pk, "reason": "司法所人手不足，先由综治平台调解"}
    )
    assert done.status_code == 200, done.content
    data = EventAction.objects.get(event_id=event_id, action="dispatch").data
    assert data["duty_list"] == {
        "suggested": justice.name,
        "source": "street",
        "followed": False,
        "reason": "司法所人手不足，先由综治平台调解",
    }
    after = dispatcher.get(f"/events/{event_id}/dispatch-targets")
    assert after.status_code == 200  # dispatched events can be redirected later (returned), the form still answers
    assert {(t["kind"], t["id"]): t["open_events"] for t in after.json()["targets"]}[
        ("platform", governance.pk)
    ] == shown[("platform", governance.pk)] + 1


def test_the_district_line_applies_where_the_street_has_none_and_following_it_needs_no_reason(as_persona):
    admin, dispatcher = as_persona("demo_admin"), as_persona("demo_dispatcher")
    assert (
        admin.client.put(
            "/api/v1/admin/duty-list",
            {"category": "01.03", "handler": "platform", "platform_kind": "service"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {admin.token}"},
        ).status_code
        == 200
    )
    event_id = accepted_event(as_persona, "01.03")
    service = Platform.objects.get(street__code=STREET, kind=PlatformKind.SERVICE)
    form = dispatcher.get(f"/events/{event_id}/dispatch-targets").json()
    assert form["suggestion"]["source"] == "district" and form["targets"][0]["id"] == service.pk
    assert step(dispatcher, event_id, "dispatch", {"platform_id": service.pk}).status_code == 200
    assert EventAction.objects.get(event_id=event_id, action="dispatch").data["duty_list"]["followed"] is True
    lines = admin.get("/admin/duty-list", {"category": "01.03"}).json()
    assert [(x["street_code"], x["handler"], x["platform_kind"]) for x in lines] == [(None, "platform", "service")]


def test_without_a_line_the_catalogue_default_is_only_a_suggestion(as_persona, persona_user):
    dispatcher = as_persona("demo_dispatcher")
    event_id = accepted_event(as_persona, "06.01")  # 暴露垃圾: the grid's, on the admission list
    form = dispatcher.get(f"/events/{event_id}/dispatch-targets").json()
    assert form["suggestion"]["source"] == "catalogue" and form["suggestion"]["binding"] is False
    worker = persona_user("demo_grid_worker").pk
    assert form["targets"][0] == {**form["targets"][0], "kind": "grid_worker", "suggested": True}
    assert worker in {t["id"] for t in form["targets"] if t["kind"] == "grid_worker"}
    governance = Platform.objects.get(street__code=STREET, kind=PlatformKind.GOVERNANCE)
    assert step(dispatcher, event_id, "dispatch", {"platform_id": governance.pk}).status_code == 200


def test_only_those_who_may_dispatch_get_the_form(as_persona, django_assert_max_num_queries):
    event_id = accepted_event(as_persona, "06.01")
    dispatcher = as_persona("demo_dispatcher")
    with django_assert_max_num_queries(16):  # authentication and scope included; no query per target
        assert dispatcher.get(f"/events/{event_id}/dispatch-targets").status_code == 200
    assert as_persona("demo_grid_worker").get(f"/events/{event_id}/dispatch-targets").status_code == 403
    assert as_persona("demo_resident").get(f"/events/{event_id}/dispatch-targets").status_code == 404
    assert as_persona("demo_commander").get(f"/events/{event_id}/dispatch-targets").status_code == 200


def test_a_phone_dispatching_off_the_list_gets_the_same_rule(as_persona):
    admin = as_persona("demo_admin")
    justice = Department.objects.get(code="justice")
    admin.client.put(
        "/api/v1/admin/duty-list",
        {"category": "01.03", "handler": "department", "department_id": justice.pk},
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    event_id = accepted_event(as_persona, "01.03")
    governance = Platform.objects.get(street__code=STREET, kind=PlatformKind.GOVERNANCE)
    phone = Phone(as_persona, "demo_dispatcher")
    bare = phone.mutation("event.dispatch", event_id=event_id, platform_id=governance.pk)
    result = phone.push([bare]).json()["results"][0]
    assert result["status"] != "applied" and "dispatch_reason_required" in str(result)
    reasoned = phone.mutation("event.dispatch", event_id=event_id, platform_id=governance.pk, reason="现场需要调解")
    assert phone.push([reasoned]).json()["results"][0]["status"] == "applied"
    assert EventAction.objects.get(event_id=event_id, action="dispatch").data["duty_list"]["reason"] == "现场需要调解"


def test_a_known_platform_gives_the_duty_a_fresh_read_gives(as_persona):
    """``duty_for(known=…)`` (a dispatch's target, read already) answers what reading the
    street's platform again answers, for every platform offered, line or no line."""
    from backend.administration.duty import duty_for
    from backend.events.models import Category

    admin = as_persona("demo_admin")
    line = {"category": "01.03", "street_code": STREET, "handler": "platform", "platform_kind": "service"}
    headers = {"Authorization": f"Bearer {admin.token}"}
    put = admin.client.put("/api/v1/admin/duty-list", line, content_type="application/json", headers=headers)
    assert put.status_code == 200, put.content
    street = Platform.objects.filter(street__code=STREET).first().street_id
    other = Platform.objects.exclude(street_id=street).select_related("street").first()
    platforms = [*Platform.objects.filter(street_id=street).select_related("street"), other, None]
    for code in ("01.02", "01.03", "06.01"):
        category = Category.objects.get(code=code)
        fresh = duty_for(category, street)
        for known in platforms:
            assert duty_for(category, street, known=known) == fresh, (code, known)


def test_the_target_platform_read_is_the_orms(as_persona):
    """``steps.target_platform`` (a statement written once) reads what the ORM's look-up
    read: the platform of that street, with its street, or nothing; and with it the
    category's duty lines in that street and the platform's handlers, as their own
    statements read them (``duty.duty_lines``, ``recipients.HANDLERS_OF``)."""
    from types import SimpleNamespace

    from backend.accounts.models import Role, RoleAssignment
    from backend.administration.duty import duty_lines
    from backend.events.models import Category
    from backend.events.services.steps import target_platform
    from push.recipients import HANDLERS_OF

    admin = as_persona("demo_admin")
    headers = {"Authorization": f"Bearer {admin.token}"}
    for line in (
        {"category": "01.03", "street_code": STREET, "handler": "platform", "platform_kind": "service"},
        {"category": "01.03", "handler": "platform", "platform_kind": "governance"},
    ):
        put = admin.client.put("/api/v1/admin/duty-list", line, content_type="application/json", headers=headers)
        assert put.status_code == 200, put.content
    streets = list(Platform.objects.values_list("street_id", flat=True).distinct())
    categories = list(Category.objects.filter(code__in=["01.02", "01.03"]))
    seen_lines = seen_handlers = 0
    for platform in Platform.objects.select_related("street"):
        for street_id in {*streets[:2], platform.street_id}:
            for category in categories:
                event = SimpleNamespace(category_id=category.pk, street_id=street_id)
                read = target_platform(platform.pk, event)
                orm = Platform.objects.filter(pk=platform.pk, street_id=street_id).select_related("street").first()
                if orm is None:
                    assert read is None
                    continue
                assert (read.pk, read.kind, read.street_id, str(read)) == (orm.pk, orm.kind, orm.street_id, str(orm))
                assert Platform.street.is_cached(read)
                lines = duty_lines(category.pk, street_id)
                assert read._duty_lines == ((category.pk, street_id), lines)
                handlers = {u for (u,) in HANDLERS_OF["platform_id"].rows([platform.pk])}
                assert read._handlers == handlers
                assert handlers == set(
                    RoleAssignment.objects.filter(role=Role.HANDLER, platform=platform).values_list(
                        "user_id", flat=True
                    )
                )
                seen_lines += bool(lines)
                seen_handlers += bool(handlers)
    assert seen_lines and seen_handlers  # lines and handlers were there to read


def test_the_duty_lines_statement_reads_what_the_orm_reads(as_persona):
    """``duty.DUTY_LINES`` (a statement written once) reads the lines the ORM's filter
    reads: the street's own, the district-wide one, both or none, for every street."""
    from backend.administration.duty import duty_lines, duty_lines_orm
    from backend.events.models import Category

    admin = as_persona("demo_admin")
    headers = {"Authorization": f"Bearer {admin.token}"}
    lines = [
        {"category": "01.03", "street_code": STREET, "handler": "platform", "platform_kind": "service"},
        {"category": "01.03", "handler": "platform", "platform_kind": "governance"},
        {"category": "06.01", "handler": "platform", "platform_kind": "enforcement"},
    ]
    for line in lines:
        put = admin.client.put("/api/v1/admin/duty-list", line, content_type="application/json", headers=headers)
        assert put.status_code == 200, put.content
    streets = list(Platform.objects.values_list("street_id", flat=True).distinct())
    seen = set()
    for code in ("01.02", "01.03", "06.01"):
        category = Category.objects.get(code=code)
        for street in streets:
            read = duty_lines(category.pk, street)
            assert read == duty_lines_orm(category.pk, street), (code, street)
            seen.add(frozenset(read))
    assert len(seen) >= 3  # none, the district's alone, the street's beside the district's
