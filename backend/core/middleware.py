"""Keeps the API's error shape for responses that never reached our handlers:
Django's own 405s, 413s (DATA_UPLOAD_MAX_MEMORY_SIZE), CSRF 403s, server errors."""

from __future__ import annotations

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
