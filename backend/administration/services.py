"""Configuration changes made through the API: each one checks who may make it and is
recorded with ``audit_change`` (who, when, what) in the same transaction."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Role
from backend.accounts.scope import scope_of
from backend.administration import calendar
from backend.administration.models import (
    AdmissionRequest,
    AdmissionStatus,
    CalendarSource,
    CalendarYear,
    DutyAssignment,
)
from backend.core.audit import audit_change
from backend.core.errors import ApiError, register
from backend.events.models import Category, HandlerKind
from backend.territory.models import Department, PlatformKind, Street

register("config_forbidden", 403, "只有区级管理员可以修改配置", "Only the district's administrators may change this")
register("category_in_use", 409, "该分类已有事件，不能删除，请停用", "The category has events: deactivate it instead")
register("admission_pending", 409, "该分类已有待审批的准入申请", "The category already has a pending admission request")
register("admission_no_change", 409, "该分类已在（或不在）准入清单中", "The admission list already says so")
register("admission_own_request", 403, "不能审批自己提出的申请", "You cannot approve your own request")
register("admission_decided", 409, "该申请已审批", "The request has already been decided")
register("invalid_calendar", 422, "日历数据有误", "The calendar data is invalid")
register("invalid_duty", 422, "职责清单条目有误", "The duty-list entry is invalid")

CONFIGURERS = (Role.ADMIN,)
APPROVERS = (Role.ADMIN, Role.COMMANDER)  # the district
REQUESTERS = (Role.ADMIN, Role.COMMANDER, Role.DISPATCHER, Role.SECRETARY)


def require(user, roles) -> None:
    if not (user.is_superuser or scope_of(user).has(*roles)):
        raise ApiError("config_forbidden")


# --- calendar ----------------------------------------------------------------------


def calendar_replace_year(user, year: int, days: list[tuple[date, str, str]], note: str = "") -> CalendarYear:
    require(user, CONFIGURERS)
    if len({d for d, _, _ in days}) != len(days):
        raise ApiError("invalid_calendar", detail={"days": "a date is given twice"})
    with transaction.atomic():
        existed = CalendarYear.objects.filter(year=year).exists()
        try:
            entry = calendar.store_year(year, days, source=CalendarSource.MANUAL, note=note)
        except ValueError as error:
            raise ApiError("invalid_calendar", detail={"days": str(error)}) from None
        audit_change(
            user,
            entry,
            "change" if existed else "add",
            f"录入 {year} 年节假日与调休安排",
            holidays=sum(1 for _, k, _ in days if k == "holiday"),
            workdays=sum(1 for _, k, _ in days if k == "workday"),
        )
    return entry


# --- catalogue ---------------------------------------------------------------------

CATEGORY_FIELDS = (
    "name",
    "name_en",
    "platform_kind",
    "default_handler",
    "default_department_code",
    "severity",
    "deadline_unit",
    "deadline_amount",
    "before_photos_required",
    "after_photos_required",
    "anonymous_allowed",
    "duplicate_radius_m",
    "active",
)


def category_create(user, *, code: str, parent_code: str | None, **fields) -> Category:
    require(user, CONFIGURERS)
    if Category.objects.filter(code=code).exists():
        raise ApiError("conflict", detail={"code": "already exists"})
    parent = None
    if parent_code:
        parent = Category.objects.filter(code=parent_code, parent__isnull=True).first()
        if parent is None:
            raise ApiError("validation_error", detail={"parent_code": "not a 大类"})
    with transaction.atomic():
        category = Category.objects.create(code=code, parent=parent, **fields)
        audit_change(user, category, "add", "新增事项分类", **{"code": code, **fields})
    return category


def category_update(user, category: Category, changes: dict) -> Category:
    require(user, CONFIGURERS)
    before = {name: getattr(category, name) for name in changes}
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return category
    with transaction.atomic():
        for name, value in changed.items():
            setattr(category, name, value)
        category.save(update_fields=list(changed))
        audit_change(
            user,
            category,
            "change",
            "修改事项分类：" + "、".join(Category._meta.get_field(n).verbose_name for n in changed),
            **{name: {"from": before[name], "to": value} for name, value in changed.items()},
        )
    return category


def category_delete(user, category: Category) -> None:
    require(user, CONFIGURERS)
    if category.events.exists() or category.children.exists() or category.admission_requests.exists():
        raise ApiError("category_in_use", detail={"code": category.code})
    with transaction.atomic():
        audit_change(user, category, "delete", "删除未使用的事项分类", code=category.code)
        category.delete()


# --- admission list ----------------------------------------------------------------


def admission_request(user, category: Category, *, admit: bool, reason: str) -> AdmissionRequest:
    require(user, REQUESTERS)
    if category.parent_id is None:
        raise ApiError("validation_error", detail={"category": "only a 小类 can be on the admission list"})
    if category.grid_admissible == admit:
        raise ApiError("admission_no_change", detail={"grid_admissible": category.grid_admissible})
    if AdmissionRequest.objects.filter(category=category, status=AdmissionStatus.PENDING).exists():
        raise ApiError("admission_pending")
    with transaction.atomic():
        request = AdmissionRequest.objects.create(category=category, admit=admit, reason=reason, requested_by=user)
        audit_change(user, request, "add", f"申请{'纳入' if admit else '移出'}网格事务准入清单", reason=reason)
    return request


def admission_decide(user, request: AdmissionRequest, *, approve: bool, note: str = "") -> AdmissionRequest:
    require(user, APPROVERS)
    with transaction.atomic():
        request = AdmissionRequest.objects.select_for_update().select_related("category").get(pk=request.pk)
        if request.status != AdmissionStatus.PENDING:
            raise ApiError("admission_decided", detail={"status": request.status})
        if request.requested_by_id == user.pk:
            raise ApiError("admission_own_request")
        request.status = AdmissionStatus.APPROVED if approve else AdmissionStatus.REFUSED
        request.decided_by, request.decided_at, request.decision_note = user, timezone.now(), note
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_change(user, request, "change", "批准准入申请" if approve else "不批准准入申请", note=note)
        if approve:
            category = request.category
            category.grid_admissible = request.admit
            category.save(update_fields=["grid_admissible"])
            audit_change(
                user,
                category,
                "change",
                f"{'纳入' if request.admit else '移出'}网格事务准入清单（申请 #{request.pk}）",
                reason=request.reason,
                requested_by=request.requested_by.username,
            )
    return request


# --- duty list ---------------------------------------------------------------------


def _duty_values(handler: str, platform_kind: str, department_id: int | None) -> dict:
    if handler not in HandlerKind.values:
        raise ApiError("invalid_duty", detail={"handler": f"one of {HandlerKind.values}"})
    if handler == HandlerKind.PLATFORM and platform_kind not in PlatformKind.values:
        raise ApiError("invalid_duty", detail={"platform_kind": f"one of {PlatformKind.values}"})
    if handler == HandlerKind.DEPARTMENT and not Department.objects.filter(pk=department_id).exists():
        raise ApiError("invalid_duty", detail={"department_id": "unknown department"})
    return {
        "handler": handler,
        "platform_kind": platform_kind if handler == HandlerKind.PLATFORM else "",
        "department_id": department_id if handler == HandlerKind.DEPARTMENT else None,
    }


def duty_set(
    user,
    category: Category,
    *,
    street_code: str | None,
    handler: str,
    platform_kind: str = "",
    department_id: int | None = None,
    note: str = "",
) -> DutyAssignment:
    """Enters (or replaces) the line for a category, district-wide or for one street."""
    require(user, CONFIGURERS)
    street = None
    if street_code:
        street = Street.objects.filter(code=street_code).first()
        if street is None:
            raise ApiError("invalid_duty", detail={"street_code": "unknown street"})
    values = {**_duty_values(handler, platform_kind, department_id), "note": note}
    with transaction.atomic():
        line, created = DutyAssignment.objects.select_for_update().get_or_create(
            category=category, street=street, defaults=values
        )
        if not created:
            for name, value in values.items():
                setattr(line, name, value)
            line.save()
        audit_change(
            user,
            line,
            "add" if created else "change",
            f"职责清单：{category.code} 在{street.name if street else '全区'}由{line.get_handler_display()}承办",
            **{k: v for k, v in values.items() if v not in ("", None)},
        )
    return line


def duty_remove(user, line: DutyAssignment) -> None:
    require(user, CONFIGURERS)
    with transaction.atomic():
        audit_change(user, line, "delete", f"删除职责清单条目 {line}")
        line.delete()
