"""Reads for residents: who read a resident's data, and everything held about them."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.accounts.labels import ROLE_LABELS
from backend.accounts.models import Device, Role, RoleAssignment, User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError, register
from backend.events.labels import STATE_LABELS, category_name
from backend.events.models import Event, EventAction
from backend.privacy.log import reads_of
from backend.privacy.models import PersonalDataRead, SubjectKind
from backend.residents.models import Consent, Resident

register("residents_only", 403, "仅居民账号可用", "Only for residents' accounts")


def resident_of(user: User) -> User:
    """The user if they sign in as a resident, else ``residents_only``."""
    if not scope_of(user).has(Role.RESIDENT):
        raise ApiError("residents_only")
    return user


def _roles(user_ids: set[int]) -> dict[int, list[str]]:
    roles: dict[int, list[str]] = {}
    for user_id, role in RoleAssignment.objects.filter(user_id__in=user_ids).values_list("user_id", "role"):
        label = str(ROLE_LABELS[role])
        if label not in roles.setdefault(user_id, []):
            roles[user_id].append(label)
    return roles


def reads_about(user: User, limit: int = 500) -> list[dict]:
    """Who read this resident's personal data, newest first."""
    rows = list(reads_of(SubjectKind.RESIDENT, user.pk)[:limit])
    roles = _roles({row.reader_id for row in rows})
    return [
        {
            "at": row.at,
            "reader_name": str(row.reader),
            "reader_roles": roles.get(row.reader_id, []),
            "endpoint": row.endpoint,
            "fields": row.fields,
        }
        for row in rows
    ]


def reads_for_admin(*, subject_kind: str | None, subject_id: str | None, reader_id: int | None) -> QuerySet:
    rows = PersonalDataRead.objects.select_related("reader").order_by("-at", "-id")
    if subject_kind:
        rows = rows.filter(subject_kind=subject_kind)
    if subject_id:
        rows = rows.filter(subject_id=subject_id)
    if reader_id:
        rows = rows.filter(reader_id=reader_id)
    return rows


def _public_history(event: Event, user: User) -> list[dict]:
    """The steps of one of the resident's tips: what happened and when; a note only on
    the resident's own steps (staff notes may be internal), never who did it."""
    return [
        {
            "action": action.action,
            "state": action.to_state or None,
            "state_label": STATE_LABELS[action.to_state] if action.to_state else None,
            "at": action.server_at,
            "note": action.note if action.actor_id == user.pk else "",
        }
        for action in EventAction.objects.filter(event=event).order_by("seq")
    ]


def personal_data_export(user: User) -> dict:
    """Everything held about a resident (个人信息副本), as JSON-ready data."""
    from push.models import Notification

    resident = Resident.objects.filter(user=user).first()
    tips = Event.objects.filter(reporter=user).select_related("category").order_by("reported_at")
    return {
        "account": {
            "id": user.pk,
            "username": user.username,
            "phone": user.phone,
            "display_name": user.display_name,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
            "signed_up_at": resident.signed_up_at if resident else None,
        },
        "consents": [
            {"notice_version": c.notice_version, "agreed_at": c.agreed_at} for c in Consent.objects.filter(user=user)
        ],
        "devices": [
            {
                "device_id": d.device_id,
                "platform": d.platform,
                "description": d.description,
                "app_version": d.app_version,
                "created_at": d.created_at,
                "last_seen_at": d.last_seen_at,
                "revoked_at": d.revoked_at,
            }
            for d in Device.objects.filter(user=user).order_by("created_at")
        ],
        "tips": [
            {
                "id": str(e.id),
                "number": e.number,
                "category": e.category.code,
                "category_name": category_name(e.category),
                "description": e.description,
                "address_text": e.address_text,
                "lat": e.lat,
                "lng": e.lng,
                "contact_allowed": e.contact_allowed,
                "state": e.state,
                "state_label": STATE_LABELS[e.state],
                "reported_at": e.reported_at,
                "closed_at": e.closed_at,
                "history": _public_history(e, user),
            }
            for e in tips
        ],
        "notifications": [
            {
                "seq": n.seq,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "event_id": str(n.event_id) if n.event_id else None,
                "created_at": n.created_at,
                "read_at": n.read_at,
            }
            for n in Notification.objects.filter(user=user).order_by("seq")
        ],
        "personal_data_reads": reads_about(user, limit=100_000),
    }
