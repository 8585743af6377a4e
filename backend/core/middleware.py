"""Keeps the API's error shape for responses that never reached our handlers
(Django's own 405s, 413s, CSRF 403s, server errors), and refuses NUL at the edge."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from backend.core.errors import ApiError

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code = STATUS_CODES.get(
                response.status_code, "internal_error" if response.status_code >= 500 else "bad_request"
            )
            error = ApiError(code, status=response.status_code)
            shaped = JsonResponse(error.body(), status=response.status_code, json_dumps_params={"ensure_ascii": False})
            if response.has_header("Allow"):
                shaped["Allow"] = response["Allow"]
            return shaped
        return response


NUL = "\x00"
NUL_MESSAGE = "NUL (U+0000) is not allowed in text"


def _nul_paths(value: Any, path: tuple) -> list[tuple]:
    """Where NUL occurs in parsed JSON (keys and strings), as ninja-style locations.
    A loop, not recursion: orjson accepts nesting deeper than Python's recursion limit."""
    found, stack = [], [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    found.append((*path, key))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
    return sorted(found, key=repr)


class RefuseNulMiddleware:
    """Refuses NUL in a query string or a JSON body of the API with 422, for every
    route at once rather than field by field: SQLite stores it, PostgreSQL refuses it
    in text and jsonb (a 500, or a sync batch failing as a whole), and a LIKE pattern
    holding it matched more than it should. Placed after LocaleMiddleware so the
    message is in the request's language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            found = self._query_nuls(request) + self._body_nuls(request)
            if found:
                detail = [{"type": "nul_character", "loc": list(loc), "msg": NUL_MESSAGE} for loc in found]
                error = ApiError("validation_error", detail=detail)
                return JsonResponse(error.body(), status=error.status, json_dumps_params={"ensure_ascii": False})
        return self.get_response(request)

    @staticmethod
    def _query_nuls(request: HttpRequest) -> list[tuple]:
        raw = request.META.get("QUERY_STRING", "")
        if "%00" not in raw and NUL not in raw:  # the cheap test first: almost every request stops here
            return []
        found = []
        for key, values in request.GET.lists():
            if NUL in key or any(NUL in value for value in values):
                found.append(("query", key))
        return found

    @staticmethod
    def _body_nuls(request: HttpRequest) -> list[tuple]:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.content_type.startswith("multipart/"):
            return []  # a photo's body is a file, read by its route
        try:
            body = request.body
        except RequestDataTooBig:
            return []  # the route answers 413 when it reads the body
        # JSON can only carry NUL escaped (a raw NUL byte is not JSON and answers 400),
        # so a body without the escape needs no parsing here.
        if b"\\u0000" not in body:
            return []
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []  # not JSON: the route answers 400
        return _nul_paths(parsed, ("body",))
