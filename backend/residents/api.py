"""Residents' routes: sign-in by SMS code, the privacy notice, and a resident's
personal data (who read it, a copy of it, deleting the account); the admin's list of
personal-data reads."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status

from backend.accounts.api import _token_out
from backend.accounts.ratelimit import client_address
from backend.accounts.schemas import OkOut, TokenOut
from backend.accounts.selectors import is_admin
from backend.core.errors import ApiError, prefers_english
from backend.core.limits import Page, PageSize, RowId
from backend.core.pagination import paginate
from backend.core.schemas import ErrorOut
from backend.privacy.models import SubjectKind
from backend.residents import schemas
from backend.residents.notice import current_notice
from backend.residents.selectors import personal_data_export, reads_about, reads_for_admin, resident_of
from backend.residents.services import CODE_MINUTES, code_request, code_verify, resident_delete

router = Router(tags=["residents"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}


@router.get(
    "/residents/privacy-notice",
    auth=None,
    response={200: schemas.PrivacyNoticeOut, **ERRORS},
    summary="当前隐私政策 The current privacy notice",
)
def privacy_notice(request: HttpRequest):
    return current_notice("en" if prefers_english() else "zh")


@router.post(
    "/auth/sms/request",
    auth=None,
    response={200: schemas.CodeRequestOut, 503: ErrorOut, **ERRORS},
    summary="获取短信验证码 Send a sign-in code by SMS",
    tags=["auth", "residents"],
)
def sms_request(request: HttpRequest, payload: schemas.CodeRequestIn):
    code_request(phone=payload.phone, device_id=payload.device_id, address=client_address(request))
    return {"sent": True, "expires_in": CODE_MINUTES * 60, "resend_after": settings.SIGNIN_LIMITS["RESEND_SECONDS"]}


@router.post(
    "/auth/sms/verify",
    auth=None,
    response={200: TokenOut, 201: TokenOut, **ERRORS},
    summary="验证码登录（新号码即注册）Sign in with the code (a new number signs up)",
    tags=["auth", "residents"],
)
def sms_verify(request: HttpRequest, payload: schemas.CodeVerifyIn):
    result = code_verify(
        phone=payload.phone,
        code=payload.code,
        device_id=payload.device_id,
        address=client_address(request),
        notice_version=payload.privacy_notice_version,
        device_description=payload.device_description,
        platform=payload.platform,
        app_version=payload.app_version,
    )
    return Status(201 if result.created else 200, _token_out(result.tokens))


@router.get(
    "/residents/me/personal-data-reads",
    response={200: list[schemas.PersonalDataReadOut], **ERRORS},
    summary="谁查看过我的个人信息 Who read my personal data",
)
def my_reads(request: HttpRequest):
    return reads_about(resident_of(request.auth))


@router.get(
    "/residents/me/personal-data",
    response={200: dict, **ERRORS},
    summary="下载我的个人信息（JSON）Download what is held about me",
)
def my_data(request: HttpRequest, response: HttpResponse):
    user = resident_of(request.auth)
    response["Content-Disposition"] = f'attachment; filename="personal-data-{user.pk}.json"'
    return personal_data_export(user)


@router.post(
    "/residents/me/delete",
    response={200: OkOut, **ERRORS},
    summary="注销我的账号 Delete my account",
)
def my_delete(request: HttpRequest, payload: schemas.DeleteIn):
    user = resident_of(request.auth)
    if not payload.confirm:
        raise ApiError("validation_error", detail={"confirm": "must be true"})
    with transaction.atomic():
        resident_delete(user=user)
    return {"ok": True}


class PersonalDataReadFilters(Schema):
    subject_kind: SubjectKind | None = None
    subject_id: str | None = None
    reader_id: RowId | None = None
    page: Page = 1
    page_size: PageSize = 50


@router.get(
    "/admin/personal-data-reads",
    response={200: schemas.AdminPersonalDataReadPage, **ERRORS},
    summary="个人信息访问记录（管理员）The personal-data access log (admin)",
    tags=["admin"],
)
def admin_reads(request: HttpRequest, filters: Query[PersonalDataReadFilters]):
    if not is_admin(request.auth):
        raise ApiError("forbidden")
    rows = reads_for_admin(
        subject_kind=filters.subject_kind, subject_id=filters.subject_id, reader_id=filters.reader_id
    )
    page = paginate(rows, page=filters.page, page_size=filters.page_size)
    page["items"] = [
        {
            "id": row.pk,
            "at": row.at,
            "reader_id": row.reader_id,
            "reader_username": row.reader.username,
            "reader_name": str(row.reader),
            "subject_kind": row.subject_kind,
            "subject_id": row.subject_id,
            "endpoint": row.endpoint,
            "fields": row.fields,
        }
        for row in page["items"]
    ]
    return page
