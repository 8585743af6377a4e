"""Units and people as data through the admin API: accounts, roles bound to units,
deactivation (tokens and devices revoked at once), stationed units; every change in
the admin log with who and when, and nobody keeps a stale scope."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from backend.accounts.models import Device, Role, RoleAssignment, User
from backend.accounts.services import auth_login
from backend.territory.models import Department, Grid, Platform, PlatformKind, StationedUnit, Street
from conftest import PERSONAS, ApiClient
from push.models import PushToken
from tests import matrix_registry
from tests.events_helpers import GRID_A

ROUTES = [
    ("get", "/admin/accounts"),
    ("post", "/admin/accounts"),
    ("get", "/admin/accounts/{user_id}"),
    ("patch", "/admin/accounts/{user_id}"),
    ("post", "/admin/accounts/{user_id}/roles"),
    ("delete", "/admin/accounts/{user_id}/roles/{role_id}"),
    ("post", "/admin/accounts/{user_id}/deactivate"),
    ("post", "/admin/accounts/{user_id}/reactivate"),
    ("get", "/admin/units"),
    ("post", "/admin/units"),
    ("patch", "/admin/units/{unit_id}"),
    ("post", "/admin/grids/{grid_id}/split"),
    ("post", "/admin/grids/{grid_id}/redraw"),
]
matrix_registry.cover(*{f"/api/v1{path}" for _, path in ROUTES})


def send(client: ApiClient, method: str, path: str, body: dict | None = None):
    return client.client.generic(
        method.upper(),
        f"/api/v1{path}",
        json.dumps(body or {}),
        content_type="application/json",
        headers=client._headers(None),
    )


def logged_in(username: str, password: str) -> ApiClient:
    pair = auth_login(username=username, password=password, device_id="admin-test-phone", address="127.0.0.1")
    return ApiClient(pair.access_token)


def audit_of(obj) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)).order_by(
            "pk"
        )
    )


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "demo_admin"])
def test_it_lets_only_an_admin_use_the_admin_api(as_persona, persona):
    client = as_persona(persona)
    ids = {"user_id": 1, "role_id": 1, "unit_id": 1, "grid_id": 1}
    for method, path in ROUTES:
        response = send(client, method, path.format(**ids), {})
        # 403 for everyone but the admin; a body the schema refuses may answer 422 first.
        assert response.status_code in (403, 422), (method, path, response.status_code)
        if response.status_code == 422:
            assert send(client, method, path.format(**ids), valid_body(path)).status_code == 403, path


def valid_body(path: str) -> dict:
    if path == "/admin/accounts":
        return {"username": "nobody_x", "password": "long-enough-1"}
    if path.endswith("/roles"):
        return {"role": "resident"}
    if path.endswith("/deactivate"):
        return {"reason": "离职"}
    if path == "/admin/units":
        return {"name": "x", "department": 1, "street": 1, "platform": 1}
    if path.endswith("/split"):
        square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
        return {"parts": [{"code": "1" * 15, "name": "a", "polygon": square}] * 2}
    if path.endswith("/redraw"):
        return {"polygon": {"type": "Polygon", "coordinates": []}}
    return {}


def test_it_creates_an_account_gives_and_takes_roles_and_records_each_change(as_persona, persona_user):
    admin = as_persona("demo_admin")
    created = admin.post(
        "/admin/accounts",
        {"username": "new_worker", "display_name": "新网格员", "phone": "13800000000", "password": "pass-word-42"},
    )
    assert created.status_code == 201, created.content
    user_id = created.json()["id"]
    assert created.json()["roles"] == [] and created.json()["is_active"]
    assert admin.post("/admin/accounts", {"username": "NEW_WORKER", "password": "pass-word-42"}).status_code == 409

    worker = logged_in("new_worker", "pass-word-42")
    assert worker.get("/me").json()["scope"]["grid_ids"] == []
    grid = Grid.objects.get(code=GRID_A)
    version = User.objects.get(pk=user_id).scope_version
    given = admin.post(
        f"/admin/accounts/{user_id}/roles",
        {"role": "grid_worker", "unit_kind": "grid", "unit_id": grid.pk, "grid_post": "leader"},
    )
    assert given.status_code == 201, given.content
    role = given.json()["roles"][0]
    assert role["role_label"] == "网格员" and role["unit_name"] == grid.name and role["grid_post"] == "leader"
    assert User.objects.get(pk=user_id).scope_version != version
    # The same token sees the new scope at once: the scope is keyed by the version.
    assert worker.get("/me").json()["scope"]["grid_ids"] == [grid.pk]
    assert worker.get(f"/territory/grids/{grid.pk}").status_code == 200

    # Wrong unit for the role, unknown unit, the same role twice: clear 4xx.
    bad = admin.post(f"/admin/accounts/{user_id}/roles", {"role": "dispatcher", "unit_kind": "grid", "unit_id": 1})
    assert bad.status_code == 422 and "unit_kind" in bad.json()["detail"]
    unknown = admin.post(
        f"/admin/accounts/{user_id}/roles", {"role": "grid_worker", "unit_kind": "grid", "unit_id": 10**9}
    )
    assert unknown.status_code == 422
    again = admin.post(
        f"/admin/accounts/{user_id}/roles", {"role": "grid_worker", "unit_kind": "grid", "unit_id": grid.pk}
    )
    assert again.status_code == 409

    removed = send(admin, "delete", f"/admin/accounts/{user_id}/roles/{role['id']}")
    assert removed.status_code == 200 and removed.json()["roles"] == []
    assert worker.get("/me").json()["scope"]["grid_ids"] == []
    assert worker.get(f"/territory/grids/{grid.pk}").status_code == 404

    renamed = send(admin, "patch", f"/admin/accounts/{user_id}", {"display_name": "改名"})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "改名"

    listed = admin.get("/admin/accounts", {"q": "new_worker"}).json()
    assert listed["total"] == 1 and listed["total_exact"] and listed["items"][0]["id"] == user_id

    admin_user = persona_user("demo_admin")
    trail = audit_of(User.objects.get(pk=user_id))
    assert [e.change_message.split(" ")[0] for e in trail] == ["新建账号", "授予角色", "撤销角色", "修改账号"]
    assert all(e.user_id == admin_user.pk and e.action_time is not None for e in trail)


def test_it_deactivates_an_account_and_revokes_its_devices_at_once(as_persona, persona_user):
    admin = as_persona("demo_admin")
    resident = as_persona("demo_resident")
    user = persona_user("demo_resident")
    device = Device.objects.filter(user=user).latest("pk")
    PushToken.objects.create(device=device, token="fcm-token-of-the-resident")
    assert resident.get("/me").status_code == 200

    done = admin.post(f"/admin/accounts/{user.pk}/deactivate", {"reason": "搬离本区"})
    assert done.status_code == 200 and done.json()["is_active"] is False
    assert resident.get("/me").status_code == 401  # the access token dies with its device
    assert not Device.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert not PushToken.objects.filter(device__user=user).exists()
    from backend.core.errors import ApiError

    with pytest.raises(ApiError) as refused:
        auth_login(username=user.username, password="test-pass-123", device_id="another-phone", address="127.0.0.1")
    assert refused.value.code == "account_disabled"
    inactive = admin.get("/admin/accounts", {"active": "false", "role": "resident"}).json()
    assert [a["username"] for a in inactive["items"]] == ["demo_resident"] and inactive["total"] == 1
    assert admin.post(f"/admin/accounts/{user.pk}/deactivate", {"reason": ""}).status_code == 422
    me = persona_user("demo_admin")
    assert admin.post(f"/admin/accounts/{me.pk}/deactivate", {"reason": "x"}).status_code == 422

    assert admin.post(f"/admin/accounts/{user.pk}/reactivate").json()["is_active"] is True
    assert [e.change_message.split(" ")[0] for e in audit_of(user)] == ["停用账号", "恢复账号"]


def test_it_manages_stationed_units_and_deactivates_rather_than_deletes(as_persona):
    admin = as_persona("demo_admin")
    street = Street.objects.get(code=GRID_A[:9])
    market = Platform.objects.get(street=street, kind=PlatformKind.MARKET)
    other_street_platform = Platform.objects.exclude(street=street).first()
    department = Department.objects.get(code="market")
    wrong = admin.post(
        "/admin/units",
        {"name": "市场监管所", "department": department.pk, "street": street.pk, "platform": other_street_platform.pk},
    )
    assert wrong.status_code == 422 and "platform" in wrong.json()["detail"]
    created = admin.post(
        "/admin/units",
        {"name": "市场监管清波所", "department": department.pk, "street": street.pk, "platform": market.pk},
    )
    assert created.status_code == 201, created.content
    unit = created.json()
    assert unit["department_name"] == "区市场监管局" and unit["platform_name"].endswith("市场监管平台")
    assert unit["id"] in [u["id"] for u in admin.get("/admin/units").json()]

    stopped = send(admin, "patch", f"/admin/units/{unit['id']}", {"active": False})
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    handler = User.objects.create(username="unit_person")
    refused = admin.post(
        f"/admin/accounts/{handler.pk}/roles", {"role": "handler", "unit_kind": "stationed_unit", "unit_id": unit["id"]}
    )
    assert refused.status_code == 422
    trail = audit_of(StationedUnit.objects.get(pk=unit["id"]))
    assert [e.change_message.split(" ")[0] for e in trail] == ["新建下沉单位", "修改下沉单位"]
    assert not RoleAssignment.objects.filter(user=handler, role=Role.HANDLER).exists()


def test_the_admin_pages_list_units_and_grid_changes_and_deactivate_accounts(persona_user):
    from django.test import Client

    browser = Client()
    admin_user = persona_user("demo_admin")
    browser.force_login(admin_user)
    units = browser.get("/admin/territory/stationedunit/")
    assert units.status_code == 200 and "综合执法局清波中队" in units.content.decode()
    assert browser.get("/admin/territory/gridchange/").status_code == 200
    assert browser.get("/admin/territory/grid/?retired_at__isempty=0").status_code == 200
    resident = persona_user("demo_resident")
    answer = browser.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [resident.pk, admin_user.pk]}
    )
    assert answer.status_code == 302
    resident.refresh_from_db()
    admin_user.refresh_from_db()
    assert not resident.is_active and admin_user.is_active  # never oneself
    assert audit_of(resident)[-1].change_message.startswith("停用账号")
