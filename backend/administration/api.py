"""The district's configuration API (``/api/v1/admin/...``) and the dispatch form's
directory (``/api/v1/events/{id}/dispatch-targets``). Writes are in ``services.py``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Status

from backend.administration import calendar, schemas, services
from backend.administration.directory import dispatch_targets
from backend.administration.models import AdmissionRequest, CalendarYear, DutyAssignment
from backend.core.errors import ApiError
from backend.core.limits import RowId
from backend.core.schemas import ErrorOut
from backend.events.labels import category_name
from backend.events.models import Category
from backend.events.selectors import access_event

router = Router(tags=["administration"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
MAX_YEAR = 2100
MIN_YEAR = 2000
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, description=f"年份 {MIN_YEAR} … {MAX_YEAR}")]


def _category(code: str) -> Category:
    category = Category.objects.filter(code=code).select_related("parent").first()
    if category is None:
        raise ApiError("not_found", detail={"category": code})
    return category


# --- calendar ----------------------------------------------------------------------


def _year_out(entry: CalendarYear) -> dict:
    return {
        "year": entry.year,
        "source": entry.source,
        "note": entry.note,
        "updated_at": entry.updated_at,
        "holidays": entry.holidays,
        "workdays": entry.workdays,
    }


def _years():
    return CalendarYear.objects.annotate(
        holidays=Count("days", filter=Q(days__kind="holiday")), workdays=Count("days", filter=Q(days__kind="workday"))
    )


@router.get("/admin/calendar", response={200: schemas.CalendarOut, **ERRORS}, summary="工作日历 Stored calendar years")
def calendar_list(request: HttpRequest):
    services.require(request.auth, services.REQUESTERS)
    return {"years": [_year_out(y) for y in _years()], "warnings": calendar.calendar_warnings()}


@router.get(
    "/admin/calendar/{year}",
    response={200: schemas.CalendarYearDetailOut, **ERRORS},
    summary="某年的节假日与调休 One year's holidays and adjusted working days",
)
def calendar_year(request: HttpRequest, year: Year):
    services.require(request.auth, services.REQUESTERS)
    entry = _years().filter(year=year).first()
    if entry is None:
        raise ApiError("not_found", detail={"year": year})
    return {**_year_out(entry), "days": list(entry.days.values("date", "kind", "name"))}


@router.put(
    "/admin/calendar/{year}",
    response={200: schemas.CalendarYearDetailOut, **ERRORS},
    summary="录入某年的节假日与调休（整体替换） Replace one year's arrangement",
)
def calendar_put(request: HttpRequest, year: Year, body: schemas.CalendarYearIn):
    services.calendar_replace_year(request.auth, year, [(d.date, d.kind, d.name) for d in body.days], note=body.note)
    return calendar_year(request, year)


# --- catalogue ---------------------------------------------------------------------


def _category_out(c: Category) -> dict:
    return {
        **{f: getattr(c, f) for f in schemas.AdminCategoryOut.model_fields if hasattr(c, f)},
        "parent_code": c.parent.code if c.parent_id else None,
    }


@router.get(
    "/admin/categories",
    response={200: list[schemas.AdminCategoryOut], **ERRORS},
    summary="事项目录（含停用） The catalogue, inactive included",
)
def category_list(request: HttpRequest):
    services.require(request.auth, services.REQUESTERS)
    return [_category_out(c) for c in Category.objects.select_related("parent").order_by("code")]


@router.post(
    "/admin/categories", response={201: schemas.AdminCategoryOut, **ERRORS}, summary="新增事项分类 Add a category"
)
def category_create(request: HttpRequest, body: schemas.CategoryIn):
    fields = body.model_dump(exclude={"code", "parent_code"})
    category = services.category_create(request.auth, code=body.code, parent_code=body.parent_code, **fields)
    return Status(201, _category_out(category))


@router.patch(
    "/admin/categories/{code}",
    response={200: schemas.AdminCategoryOut, **ERRORS},
    summary="修改或停用事项分类 Change or deactivate a category",
)
def category_update(request: HttpRequest, code: str, body: schemas.CategoryPatch):
    services.require(request.auth, services.CONFIGURERS)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return _category_out(services.category_update(request.auth, _category(code), changes))


@router.delete(
    "/admin/categories/{code}",
    response={204: None, **ERRORS},
    summary="删除未使用的事项分类（已用的请停用） Delete an unused category",
)
def category_delete(request: HttpRequest, code: str):
    services.require(request.auth, services.CONFIGURERS)
    services.category_delete(request.auth, _category(code))
    return Status(204, None)


# --- admission list ----------------------------------------------------------------


def _admission_out(r: AdmissionRequest) -> dict:
    return {
        "id": r.pk,
        "category": r.category.code,
        "category_name": category_name(r.category),
        "admit": r.admit,
        "reason": r.reason,
        "status": r.status,
        "status_label": r.get_status_display(),
        "requested_by": r.requested_by.username,
        "requested_at": r.requested_at,
        "decided_by": r.decided_by.username if r.decided_by_id else None,
        "decided_at": r.decided_at,
        "decision_note": r.decision_note,
    }


@router.get(
    "/admin/admission-requests",
    response={200: list[schemas.AdmissionOut], **ERRORS},
    summary="准入清单申请 Admission-list requests",
)
def admission_list(request: HttpRequest, status: str | None = Query(None, pattern="^(pending|approved|refused)$")):
    services.require(request.auth, services.REQUESTERS)
    rows = AdmissionRequest.objects.select_related("category", "requested_by", "decided_by")
    if status:
        rows = rows.filter(status=status)
    return [_admission_out(r) for r in rows[:500]]


@router.post(
    "/admin/admission-requests",
    response={201: schemas.AdmissionOut, **ERRORS},
    summary="申请纳入或移出准入清单 Request a change of the admission list",
)
def admission_create(request: HttpRequest, body: schemas.AdmissionIn):
    services.require(request.auth, services.REQUESTERS)
    made = services.admission_request(request.auth, _category(body.category), admit=body.admit, reason=body.reason)
    return Status(201, _admission_out(made))


def _decide(request: HttpRequest, request_id: int, body: schemas.DecisionIn, approve: bool) -> dict:
    services.require(request.auth, services.APPROVERS)
    found = AdmissionRequest.objects.filter(pk=request_id).first()
    if found is None:
        raise ApiError("not_found", detail={"request": request_id})
    decided = services.admission_decide(request.auth, found, approve=approve, note=body.note)
    return _admission_out(decided)


@router.post(
    "/admin/admission-requests/{request_id}/approve",
    response={200: schemas.AdmissionOut, **ERRORS},
    summary="批准准入申请（区级，不能审批自己的申请） Approve",
)
def admission_approve(request: HttpRequest, request_id: RowId, body: schemas.DecisionIn):
    return _decide(request, request_id, body, True)


@router.post(
    "/admin/admission-requests/{request_id}/refuse",
    response={200: schemas.AdmissionOut, **ERRORS},
    summary="不批准准入申请 Refuse",
)
def admission_refuse(request: HttpRequest, request_id: RowId, body: schemas.DecisionIn):
    return _decide(request, request_id, body, False)


# --- duty list ---------------------------------------------------------------------


def _duty_out(line: DutyAssignment) -> dict:
    return {
        "id": line.pk,
        "category": line.category.code,
        "street_code": line.street.code if line.street_id else None,
        "handler": line.handler,
        "platform_kind": line.platform_kind,
        "department_id": line.department_id,
        "department_name": line.department.name if line.department_id else None,
        "note": line.note,
    }


@router.get(
    "/admin/duty-list",
    response={200: list[schemas.DutyOut], **ERRORS},
    summary="事项办理职责清单 The duty list",
)
def duty_list(request: HttpRequest, category: str | None = Query(None, max_length=16)):
    services.require(request.auth, services.REQUESTERS)
    rows = DutyAssignment.objects.select_related("category", "street", "department")
    if category:
        rows = rows.filter(category__code=category)
    return [_duty_out(line) for line in rows[:2000]]


@router.put(
    "/admin/duty-list",
    response={200: schemas.DutyOut, **ERRORS},
    summary="录入或修改职责清单条目（全区或某街道） Set a duty-list line",
)
def duty_put(request: HttpRequest, body: schemas.DutyIn):
    services.require(request.auth, services.CONFIGURERS)
    line = services.duty_set(
        request.auth,
        _category(body.category),
        street_code=body.street_code,
        handler=body.handler,
        platform_kind=body.platform_kind,
        department_id=body.department_id,
        note=body.note,
    )
    return _duty_out(line)


@router.delete(
    "/admin/duty-list/{line_id}", response={204: None, **ERRORS}, summary="删除职责清单条目 Remove a duty-list line"
)
def duty_delete(request: HttpRequest, line_id: RowId):
    services.require(request.auth, services.CONFIGURERS)
    line = DutyAssignment.objects.select_related("category", "street").filter(pk=line_id).first()
    if line is None:
        raise ApiError("not_found", detail={"line": line_id})
    services.duty_remove(request.auth, line)
    return Status(204, None)


# --- audit -------------------------------------------------------------------------

AUDITED = ("category", "calendaryear", "admissionrequest", "dutyassignment")
ACTION_NAMES = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@router.get(
    "/admin/audit",
    response={200: list[schemas.AuditOut], **ERRORS},
    summary="配置变更记录（谁、何时、改了什么） Configuration changes",
)
def audit_list(request: HttpRequest, limit: int = Query(100, ge=1, le=500)):
    services.require(request.auth, services.APPROVERS)
    types = ContentType.objects.filter(
        Q(app_label="events", model="category") | Q(app_label="administration", model__in=AUDITED)
    )
    rows = LogEntry.objects.filter(content_type__in=types).select_related("user", "content_type")
    return [
        {
            "id": e.pk,
            "at": e.action_time,
            "user": e.user.username if e.user_id else None,
            "action": ACTION_NAMES.get(e.action_flag, str(e.action_flag)),
            "model": e.content_type.model,
            "object_id": e.object_id or "",
            "object_repr": e.object_repr,
            "message": e.get_change_message(),
        }
        for e in rows.order_by("-action_time", "-pk")[:limit]
    ]


# --- the dispatch form ---------------------------------------------------------------

events_router = Router(tags=["events"])


@events_router.get(
    "/events/{event_id}/dispatch-targets",
    response={200: schemas.DispatchTargetsOut, **ERRORS},
    summary="派遣对象（含职责清单建议与当前负荷） Dispatch targets with their load",
)
def event_dispatch_targets(request: HttpRequest, event_id: UUID):
    event = access_event(request.auth, event_id)
    return dispatch_targets(request.auth, event)
