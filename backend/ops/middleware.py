"""The first middleware of every request: its id, its access log line and its metrics."""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse

from backend.ops.context import REQUEST_ID_HEADER, request_id_from, request_id_scope
from backend.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger("backend.requests")

UNMATCHED_ROUTE = "<unmatched>"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (``api/v1/events/<uuid:event_id>``), never the raw
    path: ids in paths would give every event its own time series."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ROUTE
    return match.route


class RequestIdMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        with request_id_scope(request_id):
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            route = route_of(request)
            HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            HTTP_LATENCY.labels(route, request.method).observe(elapsed)
            access_log.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        response[REQUEST_ID_HEADER] = request_id
        return response
