"""The one ``NinjaAPI`` of the project, at ``/api/v1/``; every app adds its router here.

All errors leave through ``render_error`` so every 4xx/5xx has the shape of
``backend.core.schemas.ErrorOut``, debug or not.
"""

from __future__ import annotations

import logging

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from backend.accounts.admin_api import router as people_admin_router
from backend.accounts.api import router as accounts_router
from backend.accounts.auth import JWTAuth
from backend.addresses.api import router as addresses_router
from backend.administration.api import events_router as dispatch_form_router
from backend.administration.api import router as administration_router
from backend.care.api import router as care_router
from backend.console.api import router as console_router
from backend.core.api import router as core_router
from backend.core.errors import ApiError
from backend.core.schemas import ErrorOut
from backend.core.times import WireJSONEncoder
from backend.events.api import router as events_router
from backend.intake.api import router as intake_router
from backend.residents.api import router as residents_router
from backend.stats.api import router as stats_router
from backend.territory.api import router as territory_router
from backend.tips.api import router as tips_router
from media.api import router as media_router
from push.api import router as push_router
from sync.api import router as sync_router

logger = logging.getLogger(__name__)


class ReadableJSONRenderer(JSONRenderer):
    """Chinese stays Chinese on the wire (UTF-8), rather than \\u escapes; every
    timestamp in one form (``backend.core.times``)."""

    encoder_class = WireJSONEncoder
    json_dumps_params = {"ensure_ascii": False}


class OrjsonParser(Parser):
    """Request bodies parsed by orjson: a phone's push of a hundred reports is about
    50 kB, which ``json`` parses four times slower. orjson refuses what JSON itself
    does not allow (NaN, Infinity, invalid UTF-8): such a body answers 400 like any
    other that cannot be parsed. It reads an integer beyond 64 bits as a float; the
    schemas bound the integers they take."""

    def parse_body(self, request: HttpRequest):
        return orjson.loads(request.body)


api = NinjaAPI(
    renderer=ReadableJSONRenderer(),
    parser=OrjsonParser(),
    title="基层治理四平台 API",
    version="1.0.0",
    description=(
        "Grid-based grassroots governance backend (基层治理四平台). "
        "Errors share one shape: {code, message, detail}. Send `Accept-Language: en` for English messages."
    ),
    urls_namespace="api-v1",
    auth=JWTAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def error_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    response = api.create_response(request, error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return error_response(request, error)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return error_response(request, ApiError("validation_error", detail=error.errors))


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return error_response(request, ApiError("not_authenticated"))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return error_response(request, ApiError("not_found"))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    code = {405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited"}.get(
        error.status_code, "bad_request"
    )
    return error_response(request, ApiError(code, status=error.status_code))


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    # Django raises it when a body read into memory (JSON, a form's fields) passes
    # DATA_UPLOAD_MAX_MEMORY_SIZE; it used to fall through to the 500 below.
    return error_response(
        request, ApiError("payload_too_large", detail={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    )


@api.exception_handler(MultiPartParserError)
def on_unreadable_multipart(request: HttpRequest, error: MultiPartParserError) -> HttpResponse:
    # A multipart body without a boundary, or cut short, cannot be read: the client's
    # fault, whichever route reads request.POST / request.FILES.
    return error_response(request, ApiError("bad_request", detail={"body": f"unreadable multipart/form-data: {error}"}))


@api.exception_handler(SuspiciousOperation)
def on_suspicious_request(request: HttpRequest, error: SuspiciousOperation) -> HttpResponse:
    # Too many form fields or files, and the like: Django itself answers these with 400.
    return error_response(request, ApiError("bad_request", detail={"body": type(error).__name__}))


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(request, ApiError("internal_error"))


api.add_router("/", core_router)
api.add_router("/", accounts_router)
api.add_router("/territory", territory_router)
api.add_router("/", events_router)
api.add_router("/", addresses_router)
api.add_router("/", push_router)
api.add_router("/", media_router)
api.add_router("/", sync_router)
api.add_router("/", people_admin_router)
api.add_router("/", administration_router)
api.add_router("/", dispatch_form_router)
api.add_router("/", residents_router)
api.add_router("/", tips_router)
api.add_router("/", care_router)
api.add_router("/", intake_router)
api.add_router("/console", console_router)
api.add_router("/stats", stats_router)


# Statuses a route can answer whatever it does, declared here once for every route so
# the document lists them (the fuzzer, tests/test_fuzz.py, fails on any undeclared
# status). Routes declare the answers of their own logic (404, 409, 429, ...) themselves.
AUTHENTICATED_ERRORS = (401, 403)  # no, expired or revoked token; a disabled account
BODY_ERRORS = (400, 413)  # a body that cannot be parsed; one over the size limits
INPUT_ERRORS = (422,)  # parameters or body that fail validation


def _routers_of(router: Router):
    yield router
    for _prefix, child, *_ in router._routers:
        yield from _routers_of(child)


def declare_shared_errors(api: NinjaAPI) -> None:
    """Adds the shared error statuses to every operation (before ninja binds its routers)."""
    for _prefix, top in list(api._routers):
        for router in _routers_of(top):
            for path_view in router.path_operations.values():
                for operation in path_view.operations:
                    statuses = []
                    if operation.auth_param is not None:  # api-wide JWT unless a route says auth=None
                        statuses += AUTHENTICATED_ERRORS
                    has_body = bool({"POST", "PUT", "PATCH"} & set(operation.methods))
                    if has_body:
                        statuses += BODY_ERRORS
                    if has_body or operation.signature.params:
                        statuses += INPUT_ERRORS
                    for status in statuses:
                        operation.response_models.setdefault(status, operation._create_response_model(ErrorOut))


declare_shared_errors(api)
