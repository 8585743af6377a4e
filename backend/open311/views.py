"""GeoReport v2 at ``/open311/v2/`` (docs/open311.md gives the mapping). Every answer
is made from the tips' public view: no person, no device, no internal note, a location
no finer than a building."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core import signing
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from backend.core.db_router import reads_may_lag
from backend.core.errors import ApiError
from backend.core.limits import in_local_time, within_range
from backend.events.labels import category_english_name, category_name
from backend.events.models import Category, Event, EventAction, Source, State
from backend.events.services import Actor
from backend.open311.models import Open311Client
from backend.open311.render import error, respond
from backend.tips.public import PUBLIC_STATUS, building_level, handling_unit
from backend.tips.services import submit_tip

CLOSED = (State.CLOSED, State.EVALUATED, State.REJECTED, State.MERGED)
DEFAULT_DAYS = 90
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MEDIA_SALT = "open311.media"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the offset, in the district's time (+08:00)."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def _fmt(fmt: str) -> str:
    return "xml" if fmt == "xml" else "json"


def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    base = request.build_absolute_uri("/open311/v2/")
    data = {
        "changeset": "2026-12-01T00:00:00+08:00",
        "contact": "区社会治理指挥中心",
        "key_service": "API keys are issued per client application by the district's administrators",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-12-01T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(_fmt(fmt), data, root="discovery", item=None)


def _service(category: Category) -> dict:
    return {
        "service_code": category.code,
        "service_name": category_name(category),
        "description": category_english_name(category),
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": category_name(category.parent) if category.parent_id else "",
    }


def services(request: HttpRequest, fmt: str) -> HttpResponse:
    categories = Category.objects.filter(active=True, parent__isnull=False).select_related("parent").order_by("code")
    return respond(_fmt(fmt), [_service(c) for c in categories], root="services", item="service")


def service_definition(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    category = Category.objects.filter(code=code, active=True, parent__isnull=False).first()
    if category is None:
        return error(_fmt(fmt), 404, f"service_code {code} not found")
    return respond(_fmt(fmt), {"service_code": category.code, "attributes": []}, root="service_definition", item=None)


def _media_url(request: HttpRequest, photo_id) -> str:
    token = signing.dumps(str(photo_id), salt=MEDIA_SALT)
    return request.build_absolute_uri(reverse("open311-media", args=[token]))


def _requests_out(request: HttpRequest, events: list[Event]) -> list[dict]:
    from media.models import Phase, Photo

    ids = [e.pk for e in events]
    notes: dict = {}
    for event_id, note in (
        EventAction.objects.filter(event_id__in=ids, action__in=("reject", "handle"))
        .order_by("seq")
        .values_list("event_id", "note")
    ):
        notes[event_id] = note
    photos: dict = {}
    for event_id, photo_id in (
        Photo.objects.filter(event_id__in=ids, phase=Phase.AFTER).order_by("received_at").values_list("event_id", "pk")
    ):
        photos.setdefault(event_id, photo_id)
    survivors = dict(
        Event.objects.filter(pk__in={e.merged_into_id for e in events if e.merged_into_id}).values_list("pk", "number")
    )
    out = []
    for e in events:
        _, label, _ = PUBLIC_STATUS[e.state]
        status_notes = label
        if e.merged_into_id:
            status_notes += f"（并入 {survivors.get(e.merged_into_id, '')}）"
        elif notes.get(e.pk) and e.state in (State.REJECTED, State.CLOSED, State.EVALUATED):
            status_notes += f"：{notes[e.pk]}"
        out.append(
            {
                "service_request_id": e.number,
                "status": "closed" if e.state in CLOSED else "open",
                "status_notes": status_notes,
                "service_name": category_name(e.category),
                "service_code": e.category.code,
                "description": "",
                "agency_responsible": handling_unit(e),
                "service_notice": "",
                "requested_datetime": iso(e.reported_at),
                "updated_datetime": iso(e.updated_at),
                "expected_datetime": iso(e.deadline_at),
                "address": e.grid.name,
                "address_id": "",
                "zipcode": "",
                "lat": building_level(e.lat),
                "long": building_level(e.lng),
                "media_url": _media_url(request, photos[e.pk]) if e.pk in photos else "",
            }
        )
    return out


def _bad(fmt: str, description: str) -> HttpResponse:
    return error(fmt, 400, description)


@reads_may_lag
def _list(request: HttpRequest, fmt: str) -> HttpResponse:
    params = request.GET
    events = Event.objects.filter(source=Source.PUBLIC_TIP)
    if params.get("service_request_id"):
        numbers = [n.strip() for n in params["service_request_id"].split(",") if n.strip()][:MAX_PAGE_SIZE]
        events = events.filter(number__in=numbers)
    else:
        try:
            start = parse_datetime(params["start_date"]) if params.get("start_date") else None
            end = parse_datetime(params["end_date"]) if params.get("end_date") else None
        except ValueError:
            return _bad(fmt, "start_date and end_date are ISO 8601 times with an offset")
        if (params.get("start_date") and start is None) or (params.get("end_date") and end is None):
            return _bad(fmt, "start_date and end_date are ISO 8601 times with an offset")
        start, end = (in_local_time(t) if t else None for t in (start, end))
        if any(t is not None and not within_range(t) for t in (start, end)):
            return _bad(fmt, "start_date and end_date are between 1900 and 2200")
        end = end or timezone.now()
        start = start or end - timedelta(days=DEFAULT_DAYS)
        events = events.filter(reported_at__gte=start, reported_at__lte=end)
        if params.get("service_code"):
            events = events.filter(category__code__in=params["service_code"].split(","))
        statuses = {s.strip() for s in params.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            return _bad(fmt, "status is open, closed or both")
        if statuses == {"open"}:
            events = events.exclude(state__in=CLOSED)
        elif statuses == {"closed"}:
            events = events.filter(state__in=CLOSED)
    try:
        page = max(1, int(params.get("page", 1)))
        size = min(MAX_PAGE_SIZE, max(1, int(params.get("page_size", PAGE_SIZE))))
    except ValueError:
        return _bad(fmt, "page and page_size are whole numbers")
    if page > 10_000:
        return _bad(fmt, "page is at most 10000")
    rows = list(
        events.select_related("category", "grid", "holder_platform__street", "holder_department").order_by(
            "-reported_at", "pk"
        )[(page - 1) * size : page * size]
    )
    return respond(fmt, _requests_out(request, rows), root="service_requests", item="request")


def _client(key: str) -> Open311Client | None:
    if not key:
        return None
    return Open311Client.objects.select_related("account").filter(api_key=key, active=True).first()


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    data = request.POST
    client = _client(data.get("api_key", ""))
    if client is None:
        return error(fmt, 403, "a valid api_key is required")
    code = data.get("service_code", "")
    if not code:
        return _bad(fmt, "service_code is required")
    try:
        lat = float(data["lat"]) if data.get("lat") else None
        lng = float(data["long"]) if data.get("long") else None
        address_id = int(data["address_id"]) if data.get("address_id") else None
    except ValueError:
        return _bad(fmt, "lat and long are numbers, address_id a whole number")
    if address_id is None and (lat is None or lng is None):
        return _bad(fmt, "a location is required: lat and long, or address_id")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= (lng or 0) <= 180):
        return _bad(fmt, "lat and long are out of range")
    description = (data.get("description") or "").strip()[:2000] or "（Open311 未填写描述）"
    try:
        with transaction.atomic():
            event, _ = submit_tip(
                actor=Actor(user=client.account),
                category=code,
                description=description,
                lat=lat,
                lng=lng,
                crs="wgs84",
                address_id=address_id,
                address_text=(data.get("address_string") or "")[:200],
            )
    except ApiError as failure:
        return error(fmt, 400, f"{failure.code}: {failure.body().get('message', '')}")
    answer = [{"service_request_id": event.number, "token": str(event.pk), "service_notice": "", "account_id": ""}]
    return respond(fmt, answer, root="service_requests", item="request", status=201)


@csrf_exempt
def requests_(request: HttpRequest, fmt: str) -> HttpResponse:
    fmt = _fmt(fmt)
    if request.method == "POST":
        return _create(request, fmt)
    if request.method != "GET":
        return error(fmt, 405, "GET or POST")
    return _list(request, fmt)


@reads_may_lag
def request_one(request: HttpRequest, number: str, fmt: str) -> HttpResponse:
    event = (
        Event.objects.filter(source=Source.PUBLIC_TIP, number=number)
        .select_related("category", "grid", "holder_platform__street", "holder_department")
        .first()
    )
    if event is None:
        return error(_fmt(fmt), 404, f"service_request_id {number} not found")
    return respond(_fmt(fmt), _requests_out(request, [event]), root="service_requests", item="request")


def token(request: HttpRequest, token_id: str, fmt: str) -> HttpResponse:
    try:
        event = Event.objects.filter(source=Source.PUBLIC_TIP, pk=token_id).only("pk", "number").first()
    except Exception:  # not a UUID
        event = None
    if event is None:
        return error(_fmt(fmt), 404, f"token {token_id} not found")
    return respond(
        _fmt(fmt),
        [{"service_request_id": event.number, "token": str(event.pk)}],
        root="service_requests",
        item="request",
    )


def media(request: HttpRequest, token: str) -> HttpResponse:
    """A result photo's display derivative (EXIF-free, resized): public for residents' tips."""
    from media.models import Phase, Photo
    from media.services import storage

    try:
        photo_id = signing.loads(token, salt=MEDIA_SALT)
    except signing.BadSignature:
        return error("json", 404, "not found")
    photo = Photo.objects.filter(pk=photo_id, phase=Phase.AFTER, event__source=Source.PUBLIC_TIP).first()
    if photo is None:
        return error("json", 404, "not found")
    response = FileResponse(storage().open(photo.display_key, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
