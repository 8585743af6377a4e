"""Open311 GeoReport v2: every answer checked against the spec's fields, in JSON and XML;
POST files a resident's tip through the tips' own submit; the public view only."""

from __future__ import annotations

import json
from datetime import datetime
from xml.etree import ElementTree

import pytest
from django.test import Client

from backend.events.models import Event
from backend.open311.models import Open311Client
from tests.events_helpers import GRID_A, centre_of, evidence, governance_platform_id, step

pytestmark = pytest.mark.django_db

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def get(path: str, fmt: str, **params):
    return Client().get(f"/open311/v2/{path}.{fmt}", params)


def parsed(response, fmt: str, item: str | None):
    """The answer as Python: a list of dicts (``item`` elements) or one dict."""
    if fmt == "json":
        return json.loads(response.content)
    root = ElementTree.fromstring(response.content)

    def as_dict(element):
        return {child.tag: (child.text or "") if len(child) == 0 else child for child in element}

    return [as_dict(e) for e in root.findall(item)] if item else (root.tag, as_dict(root))


@pytest.fixture
def app_client(db):
    return Open311Client.objects.create(name="市民热线小程序")


def file(app_client, fmt="json", **extra):
    lat, lng = centre_of(GRID_A)
    body = {"api_key": app_client.api_key, "service_code": "06.01", "lat": lat, "long": lng, "description": "垃圾满溢"}
    body.update(extra)
    return Client().post(f"/open311/v2/requests.{fmt}", body)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_and_services_carry_the_required_fields(fmt):
    discovery = get("discovery", fmt)
    assert discovery.status_code == 200
    if fmt == "json":
        body = json.loads(discovery.content)
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
        assert body["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert "application/json" in body["endpoints"][0]["formats"]
    else:
        root = ElementTree.fromstring(discovery.content)
        assert root.tag == "discovery" and root.find("endpoints/endpoint/specification") is not None
        assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]
    services = parsed(get("services", fmt), fmt, "service")
    assert services and all(SERVICE_FIELDS <= set(s) for s in services)
    garbage = next(s for s in services if s["service_code"] == "06.01")
    assert str(garbage["metadata"]).lower() == "false" and garbage["type"] == "realtime"
    assert garbage["description"] == "Exposed rubbish"  # the English name, beside the Chinese service_name
    definition = get("services/06.01", fmt)
    assert definition.status_code == 200
    if fmt == "json":
        assert json.loads(definition.content) == {"service_code": "06.01", "attributes": []}
    else:
        assert ElementTree.fromstring(definition.content).find("service_code").text == "06.01"
    missing = get("services/99.99", fmt)
    assert missing.status_code == 404
    errors = parsed(missing, fmt, "error")
    assert str(errors[0]["code"]) == "404" and errors[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_request_is_filed_as_a_tip_and_read_back(app_client, fmt):
    made = file(app_client, fmt)
    assert made.status_code == 201, made.content
    answer = parsed(made, fmt, "request")[0]
    event = Event.objects.get(number=answer["service_request_id"])
    assert event.source == "public_tip" and event.reporter_id == app_client.account_id
    assert answer["token"] == str(event.pk)

    one = parsed(get(f"requests/{event.number}", fmt), fmt, "request")
    assert len(one) == 1 and REQUEST_FIELDS <= set(one[0])
    request = one[0]
    assert request["status"] == "open" and request["service_code"] == "06.01"
    assert datetime.fromisoformat(request["requested_datetime"]).utcoffset() is not None
    assert request["description"] == "" and "垃圾满溢" not in made.content.decode() + str(one)
    lat, _ = centre_of(GRID_A)
    assert float(request["lat"]) == round(round(lat * 2000) / 2000, 6)
    listed = parsed(get("requests", fmt, status="open", service_code="06.01"), fmt, "request")
    assert event.number in [r["service_request_id"] for r in listed] and len(listed) <= 50
    assert parsed(get(f"tokens/{event.pk}", fmt), fmt, "request")[0]["service_request_id"] == event.number


def test_posting_needs_a_key_and_follows_the_tips_rules(app_client):
    assert file(app_client, api_key="wrong").status_code == 403
    app_client.active = False
    app_client.save()
    assert file(app_client).status_code == 403
    app_client.active = True
    app_client.save()
    no_place = file(app_client, lat="", long="")
    assert no_place.status_code == 400 and "location" in json.loads(no_place.content)[0]["description"]
    unknown = file(app_client, service_code="99.99")
    assert unknown.status_code == 400 and "unknown_category" in json.loads(unknown.content)[0]["description"]
    assert file(app_client, lat="abc").status_code == 400
    assert get("requests", "json", status="pending").status_code == 400
    assert get("requests", "json", start_date="yesterday").status_code == 400
    assert get("requests", "json", start_date="0001-01-01T00:00:00+00:00").status_code == 400
    assert get("requests", "json", start_date="2026-01-01T00:00:00").status_code == 200  # read at +08:00


def test_closure_maps_to_closed_with_notes_agency_and_a_public_photo(app_client, as_persona):
    from media.models import Photo

    number = json.loads(file(app_client).content)[0]["service_request_id"]
    event = Event.objects.get(number=number)
    dispatcher, handler, secretary = (as_persona(n) for n in ("demo_dispatcher", "demo_handler", "demo_secretary"))
    step(dispatcher, event.pk, "accept")
    step(dispatcher, event.pk, "dispatch", {"platform_id": governance_platform_id()})
    expected = json.loads(get(f"requests/{number}", "json").content)[0]["expected_datetime"]
    assert expected and datetime.fromisoformat(expected).utcoffset() is not None
    step(handler, event.pk, "sign")
    evidence(handler, event.pk, before=event.category.before_photos_required, after=1)
    step(handler, event.pk, "handle", {"result_note": "已清运完毕"})
    step(secretary, event.pk, "approve")
    request = json.loads(get(f"requests/{number}", "json").content)[0]
    assert request["status"] == "closed" and "已清运完毕" in request["status_notes"]
    assert request["agency_responsible"] and "demo_handler" not in json.dumps(request, ensure_ascii=False)
    photo = Client().get(request["media_url"])
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert Photo.objects.filter(event=event, phase="after").exists()
    assert Client().get(request["media_url"] + "x").status_code == 404
    closed = parsed(get("requests", "xml", status="closed"), "xml", "request")
    assert number in [r["service_request_id"] for r in closed]


def test_an_administrator_issues_a_key_in_the_admin(admin_client):
    answer = admin_client.post("/admin/open311/open311client/add/", {"name": "外区平台", "active": "on"})
    assert answer.status_code == 302, answer.content[:500]
    made = Open311Client.objects.get(name="外区平台")
    assert len(made.api_key) >= 32 and made.account.role_assignments.get().role == "resident"
    assert not made.account.has_usable_password()
    page = admin_client.get(f"/admin/open311/open311client/{made.pk}/change/")
    assert made.api_key in page.content.decode()


def test_a_point_outside_the_district_is_refused(app_client):
    outside = file(app_client, lat="39.9", long="116.4")
    assert outside.status_code == 400
    assert json.loads(outside.content)[0]["description"].startswith("location_outside_district")


def test_a_page_reads_a_fixed_number_of_queries(app_client, as_persona, django_assert_max_num_queries):
    dispatcher = as_persona("demo_dispatcher")
    for _ in range(3):
        number = json.loads(file(app_client).content)[0]["service_request_id"]
        event = Event.objects.get(number=number)
        step(dispatcher, event.pk, "accept")
        step(dispatcher, event.pk, "dispatch", {"platform_id": governance_platform_id()})
    with django_assert_max_num_queries(4):
        page = json.loads(get("requests", "json").content)
    assert sum(1 for r in page if r["agency_responsible"].endswith("平台")) >= 3
