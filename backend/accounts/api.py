from django.http import HttpRequest
from ninja import Path, Router

from backend.accounts import schemas
from backend.accounts.labels import ROLE_LABELS
from backend.accounts.ratelimit import client_address
from backend.accounts.scope import roles_of, scope_of
from backend.accounts.selectors import access_device, admin_device, devices_visible_to
from backend.accounts.services import TokenPair, auth_login, auth_refresh, device_restore, device_revoke
from backend.core.limits import RowId
from backend.core.schemas import ErrorOut

router = Router(tags=["auth"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _token_out(pair: TokenPair) -> dict:
    return {
        "access_token": pair.access_token,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "refresh_expires_at": pair.refresh_expires_at,
        "device": pair.device,
    }


@router.post("/auth/login", auth=None, response={200: schemas.TokenOut, **ERRORS}, summary="登录 Log in")
def login(request: HttpRequest, payload: schemas.LoginIn):
    pair = auth_login(
        username=payload.username,
        password=payload.password,
        device_id=payload.device_id,
        device_description=payload.device_description,
        platform=payload.platform,
        app_version=payload.app_version,
        address=client_address(request),
    )
    return _token_out(pair)


@router.post(
    "/auth/refresh",
    auth=None,
    response={200: schemas.TokenOut, **ERRORS},
    summary="轮换刷新令牌 Rotate the refresh token",
)
def refresh(request: HttpRequest, payload: schemas.RefreshIn):
    return _token_out(auth_refresh(refresh_token=payload.refresh_token, device_id=payload.device_id))


@router.post("/auth/logout", response={200: schemas.OkOut, **ERRORS}, summary="注销本设备 Log this device out")
def logout(request: HttpRequest):
    device_revoke(device=request.device, by=request.auth)
    return {"ok": True}


@router.get("/me", response={200: schemas.MeOut, **ERRORS}, summary="当前用户 Who am I", tags=["accounts"])
def me(request: HttpRequest):
    user = request.auth
    scope = scope_of(user)
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        # The roles are cached in the process with Chinese labels; the answer's are in the request's language.
        "roles": [{**role, "role_label": ROLE_LABELS[role["role"]]} for role in roles_of(user)],
        "scope": {
            "district_wide": scope.district_wide,
            "grid_ids": sorted(scope.grid_ids),
            "community_ids": sorted(scope.community_ids),
            "street_ids": sorted(scope.street_ids),
            "platform_ids": sorted(scope.platform_ids),
            "department_ids": sorted(scope.department_ids),
            "unit_ids": sorted(scope.unit_ids),
        },
        "device": request.device,
    }


@router.get(
    "/devices",
    response={200: list[schemas.DeviceOut], **ERRORS},
    summary="我的设备 My devices (admin: all)",
    tags=["accounts"],
)
def device_list(request: HttpRequest):
    return list(devices_visible_to(request.auth)[:500])


@router.post(
    "/devices/{device_pk}/revoke",
    response={200: schemas.DeviceOut, **ERRORS},
    summary="吊销设备 Revoke a device",
    tags=["accounts"],
)
def device_revoke_route(request: HttpRequest, device_pk: Path[RowId]):
    device = access_device(request.auth, device_pk)
    return device_revoke(device=device, by=request.auth)


@router.post(
    "/devices/{device_pk}/restore",
    response={200: schemas.DeviceOut, **ERRORS},
    summary="恢复被管理员吊销的设备 Restore a device an admin revoked (admin)",
    tags=["accounts"],
)
def device_restore_route(request: HttpRequest, device_pk: Path[RowId]):
    device = admin_device(request.auth, device_pk)
    return device_restore(device=device)
