"""The resident's view of an event: what a resident (a reporter, a follower, an
anonymous tip's holder) may read, and nothing else. Every resident-facing answer
is made here: the tips routes, and the events routes when a resident calls them.

Plain-words status, the public steps with their time and public note, the unit that
handled it (never the person), the result photos, a location no finer than a building.
Never: staff names or ids, device ids, internal notes (comments, urges, escalations,
returns, rework reasons), other reporters or their descriptions."""

from __future__ import annotations

from django.db.models import Count, Q

from backend.core.errors import prefers_english
from backend.events.labels import category_name
from backend.events.models import Event, EventAction, State
from backend.tips.models import Follow, FollowReason

# Public status in plain words: (code, 中文, English).
PUBLIC_STATUS = {
    State.REPORTED: ("received", "已收到，等待受理", "Received, waiting to be accepted"),
    State.ACCEPTED: ("accepted", "已受理，正在安排处理", "Accepted, being arranged"),
    State.REJECTED: ("rejected", "未受理", "Not accepted"),
    State.MERGED: ("merged", "已与同一问题的其他爆料合并", "Merged with another report of the same problem"),
    State.DISPATCHED: ("in_progress", "已交办，正在处理", "Being handled"),
    State.RETURNED: ("in_progress", "正在处理", "Being handled"),
    State.IN_PROGRESS: ("in_progress", "正在处理", "Being handled"),
    State.AWAITING_EVIDENCE: ("handled", "已处理，等待审核", "Handled, being checked"),
    State.HANDLED: ("handled", "已处理，等待审核", "Handled, being checked"),
    State.CLOSED: ("closed", "已办结，请您评价", "Closed: please rate it"),
    State.EVALUATED: ("closed", "已办结", "Closed"),
    State.PARKED: ("on_hold", "已登记，暂缓处理", "Registered, on hold"),
}
OPEN_PUBLIC = ("received", "accepted", "in_progress", "handled", "on_hold")

# The steps a resident sees, with whether the step's note is public (a rejection's
# reason and the handling result are written for the public; other notes are not).
PUBLIC_STEPS = {
    "report": ("提交爆料", "Reported", False),
    "accept": ("已受理", "Accepted", False),
    "reject": ("未受理", "Not accepted", True),
    "merge": ("合并至同一问题", "Merged", False),
    "dispatch": ("交办处理单位", "Assigned to a unit", False),
    "handle": ("处理完毕", "Handled", True),
    "approve": ("审核通过，办结", "Closed", False),
    "evaluate": ("评价", "Rated", False),
    "reopen": ("重新处理", "Reopened", False),
}

BUILDING_STEP = 1 / 2000  # degrees: about 55 m, a building; no public location is finer


def building_level(value: float | None) -> float | None:
    return None if value is None else round(round(value / BUILDING_STEP) * BUILDING_STEP, 6)


def public_status(state: str) -> tuple[str, str]:
    code, zh, en = PUBLIC_STATUS[state]
    return code, en if prefers_english() else zh


def handling_unit(event: Event) -> str:
    """The unit, not the person: a platform, a department, or the grid for a grid worker."""
    if event.holder_department_id:
        return event.holder_department.name
    if event.holder_platform_id:
        return str(event.holder_platform)
    if event.holder_user_id or event.handled_on_spot:
        name = event.grid.name
        if prefers_english():
            return f"Grid {name}"
        return name if name.endswith("网格") else f"{name}网格"  # "清波门第1网格", not "…网格网格"
    return ""


def _step_unit(action: EventAction) -> str:
    to = (action.data or {}).get("to") or {}
    if to.get("department"):
        return to["department"]
    if to.get("platform"):
        return to["platform"]
    if to.get("grid_worker"):
        return "所在网格" if not prefers_english() else "The grid"
    return ""


def public_steps_label(step: str) -> str:
    zh, en, _ = PUBLIC_STEPS[step]
    return en if prefers_english() else zh


def public_steps(event: Event) -> list[dict]:
    english = prefers_english()
    rows = EventAction.objects.filter(event=event, action__in=list(PUBLIC_STEPS)).order_by("seq")
    steps = []
    for row in rows.only("seq", "action", "note", "data", "server_at", "to_state"):
        zh, en, note_public = PUBLIC_STEPS[row.action]
        steps.append(
            {
                "step": row.action,
                "label": en if english else zh,
                "at": row.server_at,
                "note": row.note if note_public else "",
                "unit": _step_unit(row),
            }
        )
    return steps


def me_too_counts(event_ids) -> dict:
    rows = (
        Follow.objects.filter(event_id__in=list(event_ids), reason=FollowReason.ME_TOO)
        .values("event_id")
        .annotate(n=Count("id"))
        .values_list("event_id", "n")
    )
    return dict(rows)


def after_photos(event: Event, viewer) -> list[dict]:
    from media.models import Phase, Photo
    from media.selectors import URL_SECONDS, signed_url

    if viewer is None:
        return []
    photos = Photo.objects.filter(event=event, phase=Phase.AFTER).order_by("received_at")
    return [{"id": str(p.pk), "url": signed_url(viewer, p, "display"), "url_expires_in": URL_SECONDS} for p in photos]


def public_view(event: Event, *, viewer=None, own: bool = False, new: bool = False) -> dict:
    """The whole public view of one event. ``viewer``: who the photo links are signed
    for; ``own``: the viewer reported it (their own description and address come back);
    ``new``: just reported (one step, no me-too, no result photo: nothing more to read)."""
    if new:
        first = {
            "step": "report",
            "label": public_steps_label("report"),
            "at": event.reported_at,
            "note": "",
            "unit": "",
        }
    code, label = public_status(event.state)
    survivor = None
    if event.merged_into_id:
        survivor = Event.objects.only("id", "number").get(pk=event.merged_into_id)
    return {
        "id": event.pk,
        "number": event.number,
        "category": event.category.code,
        "category_name": category_name(event.category),
        "status": code,
        "status_label": label,
        "description": event.description if own else "",
        "address_text": event.address_text if own else "",
        "lat": event.lat if own else building_level(event.lat),
        "lng": event.lng if own else building_level(event.lng),
        "area": event.grid.name,
        "reported_at": event.reported_at,
        "closed_at": event.closed_at,
        "handled_by": handling_unit(event),
        "result": event.result_note if event.state in (State.CLOSED, State.EVALUATED) else "",
        "me_too_count": 0 if new else me_too_counts([event.pk]).get(event.pk, 0),
        "merged_into": {"id": survivor.pk, "number": survivor.number} if survivor else None,
        "satisfaction": event.satisfaction,
        "can_rate": event.state == State.CLOSED,
        "steps": [first] if new else public_steps(event),
        "after_photos": [] if new else after_photos(event, viewer),
    }


# What a resident never reads of an event, whichever way they read it: who holds it (the
# person, and the unit's ids: the unit is named in ``handled_by`` and the steps), its
# deadline and internal counters, how it was handled internally, the photo references
# and any device time. ``resident_event_out`` (the events routes) and
# ``resident_sync_row`` (a resident's sync pull) both empty these.
STAFF_ONLY = {
    "holder_platform_id": None,
    "holder_department_id": None,
    "holder_user_id": None,
    "holder_unit_id": None,
    "deadline_at": None,
    "overdue": False,
    "handled_on_spot": False,
    "photos": {},
    "device_reported_at": None,
}
# A sync row's times that the public view does not show: the signing is not a public
# step, and the last change may be an internal one (a comment, an urge).
SYNC_STAFF_ONLY = {**STAFF_ONLY, "signed_at": None, "handled_at": None, "updated_at": None}
CLOSED = (State.CLOSED, State.EVALUATED)


def resident_sync_row(user_id: int):
    """A resident's sync pull, row by row: the event row of the phones' protocol
    (``sync.entities.EVENT_FIELDS``) holding what ``resident_event_out`` shows and
    nothing more. ``reporter_id`` stays: a resident pulls only the tips they reported,
    so it is their own id."""

    def public(row: dict) -> dict:
        own = row["reporter_id"] == user_id
        shown = {**row, **SYNC_STAFF_ONLY}
        if not own:
            shown.update(
                description="",
                address_text="",
                reporter_id=None,
                lat=building_level(row["lat"]),
                lng=building_level(row["lng"]),
            )
        if row["state"] not in CLOSED:
            shown["result_note"] = ""
        return shown

    return public


def resident_event_out(event: Event, user) -> dict:
    """The events routes' shape (``EventOut``) for a resident: the same public view, with
    every staff-only field emptied."""
    from backend.events.labels import LEVEL_LABELS, SEVERITY_LABELS, SOURCE_LABELS

    own = event.reporter_id == user.pk
    code, label = public_status(event.state)
    return {
        "id": event.pk,
        "version": event.action_count,
        "number": event.number,
        "source": event.source,
        "source_label": SOURCE_LABELS[event.source],
        "category": event.category.code,
        "category_name": category_name(event.category),
        "description": event.description if own else "",
        "lat": event.lat if own else building_level(event.lat),
        "lng": event.lng if own else building_level(event.lng),
        "address_text": event.address_text if own else "",
        "grid_id": event.grid_id,
        "grid_name": event.grid.name,
        "community_id": event.community_id,
        "street_id": event.street_id,
        "severity": event.severity,
        "severity_label": SEVERITY_LABELS[event.severity],
        "state": event.state,
        "state_label": label,
        "level": event.level,
        "level_label": LEVEL_LABELS[event.level],
        **STAFF_ONLY,
        "urge_count": 0,
        "rework_count": 0,
        "return_count": 0,
        "extension_count": 0,
        "reopen_count": event.reopen_count,
        "extension_requested_until": None,
        "park_requested": False,
        # No reporter in the public view, not even oneself (the resident knows their own tips).
        "reporter_kind": None,
        "reporter_name": None,
        "reporter_phone": None,
        "result_note": event.result_note if event.state in CLOSED else "",
        "satisfaction": event.satisfaction,
        "reported_at": event.reported_at,
        "closed_at": event.closed_at,
        "merged_into_id": event.merged_into_id,
    }


def resident_history(event: Event, user) -> list[dict]:
    """The events history route's shape for a resident: the public steps, and the
    resident's own comments; no person, device or internal note (``actor_name`` is the
    unit, if any)."""
    rows = EventAction.objects.filter(
        Q(action__in=list(PUBLIC_STEPS)) | Q(action="comment", actor_id=user.pk), event=event
    ).order_by("seq")
    out = []
    for row in rows:
        own = row.actor_id == user.pk
        note_public = own or PUBLIC_STEPS[row.action][2]
        out.append(
            {
                "seq": row.seq,
                "public": True,
                "action": row.action,
                "actor_id": None,
                "actor_name": _step_unit(row),
                "actor_role": "",
                "device_ref": "",
                "from_state": row.from_state,
                "to_state": row.to_state,
                "note": row.note if note_public else "",
                "data": {},
                "server_at": row.server_at,
                "device_at": row.device_at if own else None,
                "hash": row.hash,
                "prev_hash": row.prev_hash,
            }
        )
    return out
