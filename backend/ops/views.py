"""Operators' endpoints, outside the API (no tokens of phones, not in OpenAPI):
``/metrics`` for Prometheus, ``/healthz/live`` and ``/healthz/ready`` for the orchestrator."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from backend.core.errors import ApiError
from backend.ops.health import readiness
from backend.ops.metrics import exposition


def _json(body: dict, status: int) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        error = ApiError("forbidden", detail="Bearer METRICS_TOKEN or an admin staff session")
        return _json(error.body(), 403)
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


def live(request: HttpRequest) -> JsonResponse:
    return _json({"status": "ok"}, 200)


def ready(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    if all(value == "ok" for value in checks.values()):
        return _json({"status": "ok", "checks": checks}, 200)
    error = ApiError("dependency_down", detail={"checks": checks})
    return _json(error.body(), 503)
