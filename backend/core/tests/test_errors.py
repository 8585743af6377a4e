import pytest
from django.test import Client

from backend.api import api
from backend.core.errors import ApiError
from conftest import ApiClient


def assert_error_shape(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "detail"}
    return body


def test_it_answers_unauthenticated_requests_in_the_common_shape(anonymous):
    body = assert_error_shape(anonymous.get("/me"), 401, "not_authenticated")
    assert body["message"] == "请先登录"


def test_it_speaks_english_when_asked(db):
    body = assert_error_shape(ApiClient(language="en").get("/me"), 401, "not_authenticated")
    assert body["message"] == "Authentication required"


def test_it_reports_validation_errors_in_the_common_shape(anonymous):
    body = assert_error_shape(anonymous.post("/auth/login", {"username": "x"}), 422, "validation_error")
    missing = {tuple(item["loc"])[-1] for item in body["detail"]}
    assert {"password", "device_id"} <= missing


def test_it_rejects_a_non_json_body_in_the_common_shape(db):
    response = Client().post("/api/v1/auth/login", "not json", content_type="application/json")
    assert_error_shape(response, 400, "bad_request") if response.status_code == 400 else assert_error_shape(
        response, 422, "validation_error"
    )


@pytest.mark.parametrize("body", ['{"username": NaN}', '{"username": Infinity}', '{"username": "\xff'])
def test_bodies_json_does_not_allow_are_refused_in_the_common_shape(db, body):
    response = Client().post(
        "/api/v1/auth/login", body.encode("utf-8", "surrogateescape"), content_type="application/json"
    )
    assert_error_shape(response, 400, "bad_request")


def test_it_answers_unknown_api_paths_with_json_not_html(anonymous):
    assert_error_shape(anonymous.get("/no/such/thing"), 404, "not_found")
    response = Client().get("/api/v2/anything")
    assert_error_shape(response, 404, "not_found")


def test_it_answers_a_wrong_method_in_the_common_shape(anonymous):
    response = anonymous.client.delete("/api/v1/health")
    assert_error_shape(response, 405, "method_not_allowed")


def test_it_hides_unexpected_exceptions_behind_internal_error(anonymous, settings, monkeypatch):
    settings.DEBUG = True  # even in debug no traceback leaves the API
    from backend.core import api as core_api

    def explode():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(core_api, "run_checks", explode)
    response = anonymous.get("/health")
    body = assert_error_shape(response, 500, "internal_error")
    assert b"secret internals" not in response.content and "Traceback" not in str(body)


def test_it_refuses_an_error_code_nobody_declared():
    with pytest.raises(ValueError):
        ApiError("made_up_code")


def test_every_declared_route_documents_the_error_shape():
    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = [status for status in operation["responses"] if str(status).startswith(("4", "5"))]
            assert errors, f"{method.upper()} {path} declares no error response"


def test_chinese_travels_as_utf8_not_escapes(anonymous):
    response = anonymous.get("/me")
    assert "请先登录".encode() in response.content and b"\\u" not in response.content
