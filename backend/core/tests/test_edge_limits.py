"""The limits held at the API's edge (docs/limits.md): integers bounded by what stores
them, body sizes, unreadable multipart, NUL, and the one error shape for all of them.
Each of these answered 500 before (on PostgreSQL, or on both databases)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from backend.api import api
from backend.core.limits import (
    BIGINT_MAX,
    EARLIEST,
    INT_MAX,
    JSON_BODY_MAX_BYTES,
    LATEST,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    SMALLINT_MAX,
)
from backend.events.models import Event
from conftest import ApiClient
from media.api import MULTIPART_OVERHEAD
from media.services import MAX_BYTES
from sync.commands import COMMANDS
from sync.models import LedgerEntry
from sync.tests.test_push import Phone, offline_report
from tests.events_helpers import report

ROOT = Path(settings.BASE_DIR)
TOO_BIG = BIGINT_MAX + 1
HUGE = "99999999999999999999"  # beyond 64 bits: SQLite raised OverflowError, PostgreSQL a DataError


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape, ``detail`` included (null when there is nothing to add)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "detail"}, body
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]
    return body


def assert_invalid(response, *loc) -> dict:
    body = assert_error(response, 422, "validation_error")
    assert any(tuple(item["loc"][-len(loc) :]) == loc for item in body["detail"]), body["detail"]
    return body


def bearer(client: ApiClient) -> dict:
    return {"Authorization": f"Bearer {client.token}"}


# --- integers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/events", {"grid_id": HUGE}, "grid_id"),
        ("/events", {"grid_id": str(TOO_BIG)}, "grid_id"),
        ("/events", {"page": "22773857490700064522240"}, "page"),
        ("/events", {"page": str(MAX_PAGE + 1)}, "page"),
        ("/events", {"page_size": str(MAX_PAGE_SIZE + 1)}, "page_size"),
        ("/territory/grids", {"page": "22773857490700064522240"}, "page"),
        ("/territory/grids", {"page": "0"}, "page"),
        ("/territory/grids", {"page_size": str(MAX_PAGE_SIZE + 1)}, "page_size"),
        ("/sync/conflicts", {"page": "22773857490700064522240"}, "page"),
        ("/sync/conflicts", {"page_size": HUGE}, "page_size"),
        ("/notifications", {"after": HUGE}, "after"),
        ("/notifications", {"after": "-1"}, "after"),
        ("/notifications", {"limit": "201"}, "limit"),
        ("/addresses/search", {"q": "吴山路", "limit": HUGE}, "limit"),
    ],
)
def test_it_refuses_a_query_integer_beyond_its_bound_with_422(as_persona, path, params, field):
    assert_invalid(as_persona("demo_dispatcher").get(path, params), "query", field)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/events", {"grid_id": str(BIGINT_MAX)}),
        ("/events", {"page": str(MAX_PAGE), "page_size": str(MAX_PAGE_SIZE)}),
        ("/territory/grids", {"page": str(MAX_PAGE), "page_size": str(MAX_PAGE_SIZE)}),
        ("/sync/conflicts", {"page": str(MAX_PAGE)}),
        ("/notifications", {"after": str(BIGINT_MAX), "limit": "200"}),
    ],
)
def test_it_answers_the_largest_allowed_integers_normally(as_persona, path, params):
    response = as_persona("demo_dispatcher").get(path, params)
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("get", f"/territory/grids/{HUGE}", "grid_id"),
        ("get", f"/territory/grids/{TOO_BIG}", "grid_id"),
        ("post", f"/devices/{HUGE}/revoke", "device_pk"),
        ("post", f"/devices/{TOO_BIG}/push-token", "device_pk"),
        ("post", f"/sync/conflicts/{HUGE}/resolve", "conflict_id"),
    ],
)
def test_it_refuses_a_path_integer_beyond_bigint_with_422(as_persona, method, path, field):
    client = as_persona("demo_dispatcher")
    body = {"token": "x" * 20, "keep": "server"}
    response = client.get(path) if method == "get" else client.post(path, body)
    assert_invalid(response, "path", field)


def test_it_answers_the_largest_bigint_id_with_a_plain_404(as_persona):
    assert_error(as_persona("demo_dispatcher").get(f"/territory/grids/{BIGINT_MAX}"), 404, "not_found")


# Fixed, so every pytest-xdist worker collects the same test ids.
NO_SUCH_EVENT = uuid.UUID("00000000-0000-4000-8000-00000000dead")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/events", {"source": "grid_patrol", "category": "06.01", "description": "x", "grid_id": TOO_BIG}, "grid_id"),
        ("/notifications/read", {"up_to_seq": TOO_BIG}, "up_to_seq"),
        (f"/events/{NO_SUCH_EVENT}/dispatch", {"platform_id": TOO_BIG}, "platform_id"),
        (f"/events/{NO_SUCH_EVENT}/dispatch", {"department_id": TOO_BIG}, "department_id"),
        (f"/events/{NO_SUCH_EVENT}/dispatch", {"grid_worker_id": TOO_BIG}, "grid_worker_id"),
    ],
)
def test_it_refuses_a_body_integer_beyond_bigint_with_422(as_persona, path, body, field):
    before = Event.objects.count()
    assert_invalid(as_persona("demo_grid_worker").post(path, body), field)
    assert Event.objects.count() == before


def test_it_rejects_a_report_with_an_id_beyond_bigint_alone_and_applies_the_rest_of_the_push(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    good, bad, also_good = offline_report(phone), offline_report(phone), offline_report(phone)
    bad["args"]["grid_id"] = TOO_BIG
    response = phone.push([good, bad, also_good])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["code"] == "invalid_arguments"
    assert Event.objects.filter(pk__in=[good["args"]["id"], also_good["args"]["id"]]).count() == 2
    assert not Event.objects.filter(pk=bad["args"]["id"]).exists()
    assert LedgerEntry.objects.filter(device=phone.device).count() == 3  # answered: the phone stops resending it


@pytest.mark.parametrize("name", ["event.report", "visit.record"])
def test_it_rejects_a_lone_mutation_with_an_id_beyond_bigint_rather_than_500(as_persona, name):
    phone = Phone(as_persona, "demo_grid_worker")
    if name == "event.report":
        mutation = offline_report(phone)
        mutation["args"]["grid_id"] = TOO_BIG
    else:
        mutation = phone.mutation(
            name, id=str(uuid.uuid4()), subject_id=TOO_BIG, visited_at="2026-11-30T10:00:00+08:00"
        )
    response = phone.push([mutation])
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "invalid_arguments")


def _unbounded_integers(schema: dict, components: dict, where: str, seen: set) -> list[str]:
    """Integer and date-time fields without a maximum in a JSON schema (refs followed once)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded_integers(components[name], components, f"{where}→{name}", seen)
    found = []
    if schema.get("type") == "integer" and "maximum" not in schema:
        found.append(where)
    if schema.get("format") == "date-time" and "formatMaximum" not in schema:
        found.append(where)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            if "formatMaximum" in schema:  # stated for the whole field (a nullable time)
                option = {**option, "formatMaximum": schema["formatMaximum"]}
            found += _unbounded_integers(option, components, where, seen)
    for name, prop in schema.get("properties", {}).items():
        found += _unbounded_integers(prop, components, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _unbounded_integers(schema[key], components, f"{where}[]", seen)
    return found


def test_it_states_in_the_openapi_a_bound_for_every_integer_and_time_a_client_sends():
    document = api.get_openapi_schema()
    components = document["components"]["schemas"]
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                unbounded += _unbounded_integers(parameter["schema"], components, f"{where} {parameter['name']}", set())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded_integers(content.get("schema", {}), components, where, set())
    assert unbounded == []
    grid_id = next(p for p in document["paths"]["/api/v1/events"]["get"]["parameters"] if p["name"] == "grid_id")
    assert {"minimum": 1, "maximum": BIGINT_MAX} in [
        {k: v for k, v in option.items() if k in ("minimum", "maximum")} for option in grid_id["schema"]["anyOf"]
    ]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_it_bounds_every_sync_commands_integer_and_time_arguments(name):
    schema = COMMANDS[name].args.model_json_schema()
    assert _unbounded_integers(schema, schema.get("$defs", {}), name, set()) == []


def test_it_bounds_the_sync_envelope_by_its_columns():
    from sync.schemas import MutationIn, PullIn, PushIn

    mutation = MutationIn.model_json_schema()["properties"]
    assert mutation["id"]["maximum"] == BIGINT_MAX
    assert mutation["base_version"]["anyOf"][0]["maximum"] == INT_MAX
    assert PushIn.model_json_schema()["properties"]["protocol_version"]["maximum"] == SMALLINT_MAX
    assert PullIn.model_json_schema()["properties"]["pending_mutation_id"]["maximum"] == BIGINT_MAX


FAR = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1899-12-31T23:59:59+00:00"]


@pytest.mark.parametrize("when", FAR)
def test_it_refuses_a_time_outside_the_range_with_422(as_persona, when):
    client = as_persona("demo_grid_worker")
    before = Event.objects.count()
    report_body = {"source": "grid_patrol", "category": "06.01", "description": "x", "device_time": when}
    assert_invalid(client.post("/events", report_body), "device_time")
    assert_invalid(client.get("/events", {"reported_from": when}), "query", "reported_from")
    assert_invalid(client.post(f"/events/{uuid.uuid4()}/extension", {"reason": "r", "until": when}), "until")
    phone = Phone(as_persona, "demo_grid_worker")
    assert_invalid(phone.push([offline_report(phone)], client_time=when), "client_time")
    assert Event.objects.count() == before


def test_it_takes_the_times_a_reset_phone_clock_sends(as_persona):
    client = as_persona("demo_grid_worker")
    response = report(client, source="grid_patrol", device_time="1970-01-01T08:00:00+08:00")
    assert response.status_code == 201, response.content
    assert response.json()["device_reported_at"].startswith("1970-01-01")


def test_it_drops_a_mutation_time_outside_the_range_and_applies_the_mutation(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    lone, first, second = offline_report(phone), offline_report(phone), offline_report(phone)
    for mutation, when in zip((lone, first, second), FAR, strict=True):
        mutation["client_time"] = when
    results = phone.push([lone]).json()["results"] + phone.push([first, second]).json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 3
    events = Event.objects.filter(pk__in=[m["args"]["id"] for m in (lone, first, second)])
    assert [e.device_reported_at for e in events] == [None] * 3


def test_it_rejects_a_patrol_point_outside_the_range_alone(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    point = {"lat": 30.245, "lng": 120.169, "at": FAR[0]}
    patrol = phone.mutation("patrol.log", id=str(uuid.uuid4()), started_at="2026-11-30T09:00:00+08:00", points=[point])
    results = phone.push([patrol, offline_report(phone)]).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [("rejected", "invalid_arguments"), ("applied", None)]


# --- body size ------------------------------------------------------------------------


def _json_of_exactly(size: int, body: dict) -> bytes:
    """``body`` as JSON padded with trailing spaces to ``size`` bytes (still valid JSON)."""
    encoded = json.dumps(body).encode()
    assert len(encoded) <= size
    return encoded + b" " * (size - len(encoded))


def test_it_answers_a_json_body_over_the_limit_with_413_and_reads_one_at_the_limit(as_persona):
    client = as_persona("demo_grid_worker")
    body = {"source": "grid_patrol", "category": "06.01", "description": "x" * 3000}
    at_limit = client.client.post(
        "/api/v1/events", _json_of_exactly(JSON_BODY_MAX_BYTES, body), "application/json", headers=bearer(client)
    )
    assert_invalid(at_limit, "description")  # read and validated: too long a description, not too large a body
    over = client.client.post(
        "/api/v1/events", _json_of_exactly(JSON_BODY_MAX_BYTES + 1, body), "application/json", headers=bearer(client)
    )
    assert assert_error(over, 413, "payload_too_large")["detail"] == {"max_bytes": JSON_BODY_MAX_BYTES}


def test_it_answers_a_3_mib_description_or_push_with_413_not_500(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    three_mib = "报" * (1024 * 1024)  # 3 bytes each in UTF-8
    described = phone.client.post("/events", {"source": "grid_patrol", "category": "06.01", "description": three_mib})
    assert_error(described, 413, "payload_too_large")
    pushed = phone.push([offline_report(phone, description=three_mib)])
    assert_error(pushed, 413, "payload_too_large")
    anonymous = Client().post(
        "/api/v1/auth/login", json.dumps({"username": three_mib}), content_type="application/json"
    )
    assert_error(anonymous, 413, "payload_too_large")
    assert not LedgerEntry.objects.filter(device=phone.device).exists()


def test_it_holds_the_same_json_limit_as_django_and_the_reverse_proxy():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == JSON_BODY_MAX_BYTES == 2.5 * 1024 * 1024
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    server_wide = re.findall(r"^    client_max_body_size (\d+)k;", conf, re.M)
    assert [int(k) * 1024 for k in server_wide] == [JSON_BODY_MAX_BYTES]
    [(pattern, photo_limit)] = re.findall(r"location ~ (\S+) \{\s*client_max_body_size (\d+)m;", conf)
    assert int(photo_limit) * 1024 * 1024 >= MAX_BYTES + MULTIPART_OVERHEAD
    # The larger limit covers exactly the two upload routes (PCRE and Python agree on this pattern).
    assert re.match(pattern, f"/api/v1/events/{uuid.uuid4()}/photos") and re.match(pattern, "/api/v1/photos")
    assert not re.match(pattern, "/api/v1/events") and not re.match(pattern, "/api/v1/sync/push")


def test_it_splits_a_reference_phones_push_that_would_pass_the_limit(db):
    from datetime import UTC, datetime, timedelta

    from backend.patrols.models import PatrolSession
    from sync.client import PUSH_MAX_BYTES, push_batch
    from sync.tests.phones import phone_of

    assert PUSH_MAX_BYTES < JSON_BODY_MAX_BYTES
    phone = phone_of("demo_grid_worker")
    start = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    for _part in range(16):  # 16 full patrol parts: about 2.8 MB as one push
        points = [
            {"lat": 30.2451234567 + i * 1e-6, "lng": 120.1691234567, "at": (start + timedelta(seconds=i)).isoformat()}
            for i in range(2_000)
        ]
        phone.record("patrol.log", {"id": str(uuid.uuid4()), "started_at": start.isoformat(), "points": points})
    pending = phone.pending()
    assert len(json.dumps(pending)) > JSON_BODY_MAX_BYTES and len(push_batch(pending)) < len(pending)
    results = phone.push()
    assert [r["status"] for r in results] == ["applied"] * 16
    assert phone.transport.requests >= 3  # the login and at least two pushes
    assert PatrolSession.objects.filter(pk__in=[m["args"]["id"] for m in pending]).count() == 16


@pytest.fixture
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def test_it_still_takes_a_photo_larger_than_the_json_limit(as_persona, private_storage):
    noise = Image.frombytes("RGB", (1100, 1100), hashlib.shake_256(b"edge").digest(1100 * 1100 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    data = out.getvalue()
    assert JSON_BODY_MAX_BYTES < len(data) < MAX_BYTES
    client = as_persona("demo_grid_worker")
    upload = io.BytesIO(data)
    upload.name = "noise.png"
    response = client.client.post(
        "/api/v1/photos",
        {"file": upload, "phase": "before", "photo_id": str(uuid.uuid4()), "sha256": hashlib.sha256(data).hexdigest()},
        headers=bearer(client),
    )
    assert response.status_code == 201, response.content


def test_it_answers_a_photo_body_over_its_own_limit_with_413_naming_it(as_persona):
    client = as_persona("demo_grid_worker")
    response = client.client.post(
        "/api/v1/photos",
        b"x",
        content_type="multipart/form-data; boundary=x",
        headers=bearer(client),
        CONTENT_LENGTH=str(MAX_BYTES + MULTIPART_OVERHEAD + 1),
    )
    assert assert_error(response, 413, "payload_too_large")["detail"] == {"max_bytes": MAX_BYTES}


def test_it_shapes_the_reverse_proxys_own_413_like_every_error():
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    assert "error_page 413 = @payload_too_large;" in conf
    [body] = re.findall(r"location @payload_too_large \{[^}]*return 413 '([^']*)';", conf)
    assert json.loads(body) == {"code": "payload_too_large", "message": json.loads(body)["message"], "detail": None}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/addresses/search", {"q": "吴山路", "limit": "51"}, "limit"),
        ("/addresses/search", {"q": "吴山路", "limit": "0"}, "limit"),
        ("/territory/grids", {"page_size": "0"}, "page_size"),
        ("/sync/conflicts", {"page_size": str(MAX_PAGE_SIZE + 1)}, "page_size"),
        ("/notifications", {"limit": "0"}, "limit"),
    ],
)
def test_it_refuses_page_sizes_outside_their_range(as_persona, path, params, field):
    assert_invalid(as_persona("demo_dispatcher").get(path, params), "query", field)


def test_it_pages_by_the_documented_defaults_and_pull_limits(as_persona):
    client = as_persona("demo_commander")
    assert client.get("/territory/grids").json()["page_size"] == 50
    assert len(client.get("/territory/grids", {"page_size": "200"}).json()["items"]) == 200
    assert len(client.get("/addresses/search", {"q": "吴山路"}).json()) == 20
    phone = Phone(as_persona, "demo_grid_worker")
    pull = {"device_id": phone.device.device_id, "protocol_version": 2, "cursor": None}
    assert_invalid(phone.client.post("/sync/pull", {**pull, "limit": 1001}), "limit")
    assert phone.client.post("/sync/pull", {**pull, "limit": 1000}).status_code == 200


# --- multipart ------------------------------------------------------------------------


TRUNCATED = (
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nab'
)


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("multipart/form-data", b"abc"),  # no boundary
        ("multipart/form-data", b""),
        ("multipart/form-data; boundary=", b"abc"),  # an empty boundary
        ("multipart/form-data; boundary=xyz", b""),
        ("multipart/form-data; boundary=xyz", TRUNCATED),
    ],
)
@pytest.mark.parametrize("route", ["/photos", "/events/{event}/photos"])
def test_it_answers_unreadable_multipart_with_400_or_422_in_the_error_shape(as_persona, route, content_type, payload):
    client = as_persona("demo_grid_worker")
    event = report(client, source="grid_patrol").json()["id"]
    response = client.client.post(
        "/api/v1" + route.format(event=event), payload, content_type=content_type, headers=bearer(client)
    )
    assert response.status_code in (400, 422), response.content
    assert_error(response, response.status_code, "bad_request" if response.status_code == 400 else "validation_error")


def test_it_answers_a_multipart_body_without_a_boundary_with_400(as_persona):
    client = as_persona("demo_grid_worker")
    response = client.client.post("/api/v1/photos", b"abc", content_type="multipart/form-data", headers=bearer(client))
    assert "boundary" in assert_error(response, 400, "bad_request")["detail"]["body"]


# --- NUL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "key"),
    [
        ("/addresses/search", {"q": "吴山路\x00"}, "q"),
        ("/addresses/search", {"q": "\x00\x00\x00"}, "q"),
        ("/events", {"category": "06\x0001"}, "category"),
        ("/events", {"queue": "all", "x\x00": "1"}, "x\x00"),
    ],
)
def test_it_refuses_nul_in_a_query_string_with_422(as_persona, path, params, key):
    body = assert_error(as_persona("demo_dispatcher").get(path, params), 422, "validation_error")
    assert {"type": "nul_character", "loc": ["query", key], "msg": body["detail"][0]["msg"]} in body["detail"]


def test_it_refuses_nul_in_a_json_body_wherever_it_is(as_persona):
    client = as_persona("demo_grid_worker")
    before = Event.objects.count()
    body = report(client, source="grid_patrol", description="井盖\x00缺失", address_text="\x00").json()
    locs = [item["loc"] for item in body["detail"]]
    assert body["code"] == "validation_error" and ["body", "description"] in locs and ["body", "address_text"] in locs
    assert Event.objects.count() == before


def test_it_refuses_a_push_with_nul_in_one_mutation_before_applying_anything(as_persona):
    phone = Phone(as_persona, "demo_grid_worker")
    good, bad = offline_report(phone), offline_report(phone, description="路灯\x00不亮")
    bad["args"]["before_photos"] = ["sha256:\x00"]
    bad["args"]["k\x00"] = 1
    body = assert_error(phone.push([good, bad]), 422, "validation_error")
    locs = [item["loc"] for item in body["detail"]]
    assert ["body", "mutations", 1, "args", "description"] in locs
    assert ["body", "mutations", 1, "args", "before_photos", 0] in locs
    assert ["body", "mutations", 1, "args", "k\x00"] in locs
    assert not LedgerEntry.objects.filter(device=phone.device).exists()


def test_it_finds_nul_deep_inside_a_body_without_recursing(as_persona):
    nested = '"\\u0000"'  # the JSON string "\u0000"
    for _ in range(1000):  # deeper than Python's recursion limit; orjson reads up to 1024
        nested = f"[{nested}]"
    client = as_persona("demo_grid_worker")
    response = client.client.post(
        "/api/v1/events", f'{{"description": {nested}}}', "application/json", headers=bearer(client)
    )
    [problem] = assert_error(response, 422, "validation_error")["detail"]
    assert problem["type"] == "nul_character" and problem["loc"] == ["body", "description", *[0] * 1000]


def test_it_keeps_an_escaped_backslash_before_u0000_as_text(as_persona):
    client = as_persona("demo_grid_worker")
    response = report(client, source="grid_patrol", description="路径 C:\\u0000 写错了")
    assert response.status_code == 201, response.content
    assert response.json()["description"] == "路径 C:\\u0000 写错了"


def test_it_refuses_nul_in_english_when_asked(db):
    response = ApiClient(language="en").get("/addresses/search", {"q": "a\x00b"})
    assert assert_error(response, 422, "validation_error")["message"] == "The request has invalid fields"


# --- the error shape ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (lambda c: c.client.delete("/api/v1/health"), 405, "method_not_allowed"),
        (lambda c: c.client.put("/api/v1/events", b"{}", "application/json"), 405, "method_not_allowed"),
        (lambda c: c.get("/no/such/route"), 404, "not_found"),
        (lambda c: Client().get("/api/v2/anything"), 404, "not_found"),
        (lambda c: Client().get("/api/v1/me"), 401, "not_authenticated"),
        (lambda c: Client().get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"}), 401, None),
        (lambda c: c.client.post("/api/v1/events", b"{", "application/json", headers=bearer(c)), 400, "bad_request"),
        (lambda c: c.get(f"/territory/grids/{BIGINT_MAX}"), 404, "not_found"),
    ],
)
def test_it_gives_every_error_a_detail_even_when_null(as_persona, request_, status, code):
    response = request_(as_persona("demo_dispatcher"))
    body = assert_error(response, status, code or response.json()["code"])
    assert "detail" in body


def test_it_documents_detail_as_required_in_the_error_schema():
    schema = api.get_openapi_schema()["components"]["schemas"]["ErrorOut"]
    assert set(schema["required"]) == {"code", "message", "detail"}


# --- docs/limits.md -------------------------------------------------------------------


def test_it_states_in_docs_limits_the_values_the_code_holds():
    doc = (ROOT / "docs" / "limits.md").read_text()
    for figure in (
        f"{JSON_BODY_MAX_BYTES:,}",
        f"{MAX_BYTES:,}",
        f"{MAX_PAGE:,}",
        f"{MAX_PAGE_SIZE}",
        "2^63 − 1",
        "2^31 − 1",
        f"{SMALLINT_MAX:,}",
        "client_max_body_size 2560k",
        "client_max_body_size 21m",
        f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}",
    ):
        assert figure in doc, figure
    assert "docs/limits.md" in (ROOT / "README.md").read_text()
