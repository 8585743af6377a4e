"""The admin API for units and people and territory changes (管理员 only):
accounts, their roles bound to units, deactivation, stationed units (下沉), grid
splits and redraws. Every write is in the admin log (``audit_change``).
docs/administration.md."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db.models import Prefetch, Q
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from backend.accounts import people
from backend.accounts.models import UNIT_FIELDS, GridPost, Role, RoleAssignment, User
from backend.accounts.selectors import is_admin
from backend.core.errors import ApiError
from backend.core.limits import Page, PageSize, RowId
from backend.core.pagination import paginate
from backend.core.schemas import ErrorOut
from backend.territory.changes import GridPart, grid_redraw, grid_split
from backend.territory.models import Grid, StationedUnit

router = Router(tags=["administration"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _admin(request: HttpRequest) -> User:
    if not is_admin(request.auth):
        raise ApiError("forbidden")
    return request.auth


# --- accounts and roles -------------------------------------------------------------


class AdminRoleOut(Schema):
    id: int
    role: str
    role_label: str
    unit_kind: str | None
    unit_id: int | None
    unit_name: str
    grid_post: str


class AdminAccountOut(Schema):
    id: int
    username: str
    display_name: str
    phone: str
    is_active: bool
    roles: list[AdminRoleOut]


class AdminAccountPage(Schema):
    items: list[AdminAccountOut]
    page: int
    page_size: int
    has_more: bool
    total: int
    total_exact: bool


class AdminAccountIn(Schema):
    username: str = Field(..., min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    display_name: str = Field("", max_length=64)
    phone: str = Field("", max_length=20)
    password: str = Field(..., min_length=8, max_length=256)


class AdminAccountPatch(Schema):
    display_name: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=20)
    password: str | None = Field(None, min_length=8, max_length=256)


class AdminRoleIn(Schema):
    role: Literal[tuple(Role.values)]
    unit_kind: Literal[UNIT_FIELDS] | None = None
    unit_id: RowId | None = None
    grid_post: Literal[("", *GridPost.values)] = Field(
        "", description="网格员的岗位: leader 网格长 / full_time / part_time"
    )


class DeactivateIn(Schema):
    reason: str = Field(..., min_length=1, max_length=500)


class AdminAccountFilters(Schema):
    q: str | None = Field(None, max_length=64, description="用户名或姓名")
    role: Literal[tuple(Role.values)] | None = None
    active: bool | None = None
    page: Page = 1
    page_size: PageSize = 50


def _role_out(r: RoleAssignment) -> dict:
    kind = next((name for name in UNIT_FIELDS if getattr(r, f"{name}_id")), None)
    unit = r.unit()
    return {
        "id": r.pk,
        "role": r.role,
        "role_label": r.get_role_display(),
        "unit_kind": kind,
        "unit_id": unit.pk if unit else None,
        "unit_name": str(unit) if unit else "",
        "grid_post": r.grid_post,
    }


def _account_out(user: User) -> dict:
    roles = getattr(user, "listed_roles", None)
    if roles is None:
        roles = RoleAssignment.objects.filter(user=user).select_related(*UNIT_FIELDS).order_by("pk")
    return {
        **{f: getattr(user, f) for f in ("id", "username", "display_name", "phone", "is_active")},
        "roles": [_role_out(r) for r in roles],
    }


def _account(user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ApiError("not_found")
    return user


@router.get("/admin/accounts", response={200: AdminAccountPage, **ERRORS}, summary="账号列表 Accounts (admin)")
def account_list(request: HttpRequest, filters: Query[AdminAccountFilters]):
    _admin(request)
    users = User.objects.order_by("username").prefetch_related(
        Prefetch(
            "role_assignments",
            RoleAssignment.objects.select_related(*UNIT_FIELDS).order_by("pk"),
            to_attr="listed_roles",
        )
    )
    if filters.q:
        users = users.filter(Q(username__icontains=filters.q) | Q(display_name__icontains=filters.q))
    if filters.role:
        users = users.filter(role_assignments__role=filters.role).distinct()
    if filters.active is not None:
        users = users.filter(is_active=filters.active)
    page = paginate(users, page=filters.page, page_size=filters.page_size)
    page["items"] = [_account_out(u) for u in page["items"]]
    return page


@router.post("/admin/accounts", response={201: AdminAccountOut, **ERRORS}, summary="新建账号 Create an account (admin)")
def account_create(request: HttpRequest, payload: AdminAccountIn):
    user = people.account_create(by=_admin(request), **payload.dict())
    return Status(201, _account_out(user))


@router.get(
    "/admin/accounts/{user_id}", response={200: AdminAccountOut, **ERRORS}, summary="账号详情 One account (admin)"
)
def account_get(request: HttpRequest, user_id: Path[RowId]):
    _admin(request)
    return _account_out(_account(user_id))


@router.patch(
    "/admin/accounts/{user_id}", response={200: AdminAccountOut, **ERRORS}, summary="修改账号 Update an account (admin)"
)
def account_update(request: HttpRequest, user_id: Path[RowId], payload: AdminAccountPatch):
    user = people.account_update(by=_admin(request), user=_account(user_id), changes=payload.dict())
    return _account_out(user)


@router.post(
    "/admin/accounts/{user_id}/roles",
    response={201: AdminAccountOut, **ERRORS},
    summary="授予角色 Assign a role (admin)",
)
def role_assign(request: HttpRequest, user_id: Path[RowId], payload: AdminRoleIn):
    user = _account(user_id)
    people.role_assign(by=_admin(request), user=user, **payload.dict())
    return Status(201, _account_out(user))


@router.delete(
    "/admin/accounts/{user_id}/roles/{role_id}",
    response={200: AdminAccountOut, **ERRORS},
    summary="撤销角色 Remove a role (admin)",
)
def role_remove(request: HttpRequest, user_id: Path[RowId], role_id: Path[RowId]):
    admin = _admin(request)
    assignment = RoleAssignment.objects.filter(pk=role_id, user_id=user_id).select_related("user").first()
    if assignment is None:
        raise ApiError("not_found")
    people.role_remove(by=admin, assignment=assignment)
    return _account_out(_account(user_id))


@router.post(
    "/admin/accounts/{user_id}/deactivate",
    response={200: AdminAccountOut, **ERRORS},
    summary="停用账号（立即吊销全部设备）Deactivate an account, revoking every device (admin)",
)
def account_deactivate(request: HttpRequest, user_id: Path[RowId], payload: DeactivateIn):
    user = people.account_deactivate(by=_admin(request), user=_account(user_id), reason=payload.reason)
    return _account_out(user)


@router.post(
    "/admin/accounts/{user_id}/reactivate",
    response={200: AdminAccountOut, **ERRORS},
    summary="恢复账号 Reactivate (admin)",
)
def account_reactivate(request: HttpRequest, user_id: Path[RowId]):
    return _account_out(people.account_reactivate(by=_admin(request), user=_account(user_id)))


# --- stationed units ----------------------------------------------------------------


class StationedUnitOut(Schema):
    id: int
    name: str
    department_id: int
    department_name: str
    street_id: int
    street_name: str
    platform_id: int
    platform_name: str
    active: bool


class StationedUnitIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    department: RowId
    street: RowId
    platform: RowId


class StationedUnitPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=64)
    platform: RowId | None = None
    active: bool | None = None


def _unit_out(unit: StationedUnit) -> dict:
    return {
        "id": unit.pk,
        "name": unit.name,
        "department_id": unit.department_id,
        "department_name": unit.department.name,
        "street_id": unit.street_id,
        "street_name": unit.street.name,
        "platform_id": unit.platform_id,
        "platform_name": str(unit.platform),
        "active": unit.active,
    }


UNITS = StationedUnit.objects.select_related("department", "street", "platform__street")


@router.get(
    "/admin/units", response={200: list[StationedUnitOut], **ERRORS}, summary="下沉单位 Stationed units (admin)"
)
def unit_list(request: HttpRequest):
    _admin(request)
    return [_unit_out(u) for u in UNITS.all()]


@router.post(
    "/admin/units", response={201: StationedUnitOut, **ERRORS}, summary="新建下沉单位 Create a stationed unit (admin)"
)
def unit_create(request: HttpRequest, payload: StationedUnitIn):
    unit = people.unit_save(by=_admin(request), unit=None, values=payload.dict())
    return Status(201, _unit_out(UNITS.get(pk=unit.pk)))


@router.patch(
    "/admin/units/{unit_id}",
    response={200: StationedUnitOut, **ERRORS},
    summary="修改或停用下沉单位 Change or deactivate a unit (admin)",
)
def unit_update(request: HttpRequest, unit_id: Path[RowId], payload: StationedUnitPatch):
    admin = _admin(request)
    unit = UNITS.filter(pk=unit_id).first()
    if unit is None:
        raise ApiError("not_found")
    people.unit_save(by=admin, unit=unit, values=payload.dict(exclude_none=True))
    return _unit_out(UNITS.get(pk=unit.pk))


# --- territory changes --------------------------------------------------------------


class GridPartIn(Schema):
    code: str = Field(..., pattern=r"^\d{15}$")
    name: str = Field(..., min_length=1, max_length=64)
    polygon: dict = Field(..., description="GeoJSON Polygon, WGS-84")
    worker_ids: list[RowId] = Field([], max_length=50, description="原网格的网格员中转到此新网格的人")


class GridSplitIn(Schema):
    parts: list[GridPartIn] = Field(..., min_length=2, max_length=20)
    reason: str = Field("", max_length=500)


class GridRedrawIn(Schema):
    polygon: dict = Field(..., description="GeoJSON Polygon, WGS-84")
    reason: str = Field("", max_length=500)


class GridChangeOut(Schema):
    id: int
    kind: str
    grid_id: int
    grid_code: str
    new_grid_ids: list[int]
    new_grid_codes: list[str]
    reason: str
    made_at: datetime


def _change_out(change) -> dict:
    new = list(change.new_grids.order_by("code"))
    return {
        "id": change.pk,
        "kind": change.kind,
        "grid_id": change.grid_id,
        "grid_code": change.grid.code,
        "new_grid_ids": [g.pk for g in new],
        "new_grid_codes": [g.code for g in new],
        "reason": change.reason,
        "made_at": change.made_at,
    }


def _grid(grid_id: int) -> Grid:
    grid = Grid.objects.filter(pk=grid_id).first()
    if grid is None:
        raise ApiError("not_found")
    return grid


@router.post(
    "/admin/grids/{grid_id}/split", response={201: GridChangeOut, **ERRORS}, summary="拆分网格 Split a grid (admin)"
)
def grid_split_route(request: HttpRequest, grid_id: Path[RowId], payload: GridSplitIn):
    admin = _admin(request)
    parts = [GridPart(p.code, p.name, p.polygon, list(p.worker_ids)) for p in payload.parts]
    change = grid_split(grid=_grid(grid_id), parts=parts, by=admin, reason=payload.reason)
    return Status(201, _change_out(change))


@router.post(
    "/admin/grids/{grid_id}/redraw",
    response={201: GridChangeOut, **ERRORS},
    summary="重划网格边界 Redraw a grid (admin)",
)
def grid_redraw_route(request: HttpRequest, grid_id: Path[RowId], payload: GridRedrawIn):
    change = grid_redraw(grid=_grid(grid_id), polygon=payload.polygon, by=_admin(request), reason=payload.reason)
    return Status(201, _change_out(change))
