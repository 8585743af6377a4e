"""Writes of residents' tips. A tip is reported through the one write path
(``events.services.event_report`` with source ``public_tip``); this module adds only
what is the tips' own: the "not sure" category, anonymous tracking codes, me-too and
following, and telling followers about each public milestone."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction

import backend.residents.selectors  # noqa: F401  (the "residents_only" error is registered there, once)
from backend.accounts.actor import Actor
from backend.accounts.models import Role, RoleAssignment, User
from backend.core.errors import ApiError, register
from backend.events.models import Category, Event, Satisfaction, Source
from backend.events.services import Photos, event_evaluate, event_report
from backend.events.services.steps import UNSURE_CATEGORY
from backend.events.workflow import OPEN_STATES
from backend.fastpath.statements import Plain
from backend.tips.models import AnonymousTip, Follow, FollowReason

register(
    "anonymous_not_allowed", 422, "该类事项不允许匿名爆料，请登录后提交", "This category does not take anonymous tips"
)
register("tracking_not_found", 404, "查询码或密钥不正确", "Unknown tracking code or wrong secret")
register("unknown_address", 422, "地址库中没有该地址", "Unknown address")
register("not_open", 409, "该事件已不在办理中", "The event is no longer open")
register("already_yours", 409, "这是您自己上报的事件", "You reported this event yourself")


ANONYMOUS_ACCOUNT = "tips_anonymous"


def unsure_category() -> Category:
    """The catalogue's "not sure" entry (00 待分类 / 00.00 不确定), made on first use."""
    found = Category.objects.filter(code=UNSURE_CATEGORY).first()
    if found is not None:
        return found
    parent, _ = Category.objects.get_or_create(
        code=UNSURE_CATEGORY[:2], defaults={"name": "待分类", "name_en": "To classify", "platform_kind": "governance"}
    )
    category, _ = Category.objects.get_or_create(
        code=UNSURE_CATEGORY,
        defaults={
            "name": "不确定（由调度员分类）",
            "name_en": "Not sure (the dispatcher classifies)",
            "parent": parent,
            "platform_kind": "governance",
            "before_photos_required": 0,
        },
    )
    return category


def anonymous_account() -> User:
    """The one account anonymous tips are reported under: it has no password, so nobody
    signs in as it; a tip's tracking code and secret stand for it."""
    user = User.objects.filter(username=ANONYMOUS_ACCOUNT).first()
    if user is None:
        user = User(username=ANONYMOUS_ACCOUNT, first_name="匿名爆料")
        user.set_unusable_password()
        user.save()
        RoleAssignment.objects.create(user=user, role=Role.RESIDENT)
    return user


def _resolve_location(address_id: int | None, lat, lng, crs: str) -> dict:
    if address_id is None:
        return {"lat": lat, "lng": lng, "crs": crs}
    from backend.addresses.models import AddressEntry

    entry = AddressEntry.objects.filter(pk=address_id).values("lat", "lng", "grid_id", "standard").first()
    if entry is None:
        raise ApiError("unknown_address", detail={"address_id": address_id})
    return {"lat": entry["lat"], "lng": entry["lng"], "crs": "wgs84", "address_text": entry["standard"]}


def submit_tip(
    *,
    actor: Actor,
    category: str | None,
    description: str,
    lat: float | None = None,
    lng: float | None = None,
    crs: str = "wgs84",
    address_id: int | None = None,
    address_text: str = "",
    photos: Photos | None = None,
    contact_allowed: bool = False,
    event_id: uuid.UUID | None = None,
) -> tuple[Event, bool]:
    """A resident's tip: the one report path with source ``public_tip``; the grid comes
    from the location (or the library address). ``category`` None: "not sure"."""
    location = _resolve_location(address_id, lat, lng, crs)
    if location["lat"] is None or location["lng"] is None:
        raise ApiError("location_required")
    return event_report(
        actor=actor,
        source=Source.PUBLIC_TIP,
        category_code=category or unsure_category().code,
        description=description,
        lat=location["lat"],
        lng=location["lng"],
        crs=location["crs"],
        address_text=location.get("address_text") or address_text,
        photos=photos,
        contact_allowed=contact_allowed,
        event_id=event_id,
    )


def _secret_hash(secret: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


def check_anonymous_rate(address: str) -> None:
    """``TIPS_ANONYMOUS_PER_HOUR`` anonymous tips per client address in a sliding hour
    (the shared cache: Redis in production, so every process counts together)."""
    limit = settings.TIPS["ANONYMOUS_PER_HOUR"]
    key = "tips-anon:" + hashlib.sha256(address.encode()).hexdigest()[:32]
    if cache.add(key, 1, timeout=3600):
        return
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=3600)
        return
    if count > limit:
        raise ApiError(
            "rate_limited", detail={"retry_after_s": 3600, "limit_per_hour": limit}, headers={"Retry-After": "3600"}
        )


def submit_anonymous_tip(*, address: str, category: str, **fields) -> tuple[Event, str, str]:
    """An anonymous tip (categories with ``anonymous_allowed`` only): (event, code, secret).
    Only a hash of the secret is kept."""
    found = Category.objects.filter(code=category, active=True).only("anonymous_allowed").first()
    if found is None:
        raise ApiError("unknown_category", detail={"category": category})
    if not found.anonymous_allowed:
        raise ApiError("anonymous_not_allowed", detail={"category": category})
    check_anonymous_rate(address)
    secret = secrets.token_urlsafe(18)
    with transaction.atomic():
        event, _ = submit_tip(actor=Actor(user=anonymous_account()), category=category, **fields)
        for _attempt in range(5):
            code = "T" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
            try:
                with transaction.atomic():
                    AnonymousTip.objects.create(event=event, code=code, secret_hash=_secret_hash(secret))
                break
            except IntegrityError:
                continue
    return event, code, secret


def tracked_event(code: str, secret: str) -> Event:
    """The event behind a tracking code and secret (the surviving one if it was merged)."""
    tip = AnonymousTip.objects.filter(code=(code or "").upper()).first()
    if tip is None or not hmac.compare_digest(tip.secret_hash, _secret_hash(secret or "")):
        raise ApiError("tracking_not_found")
    event = Event.objects.select_related("category", "grid").get(pk=tip.event_id)
    seen = 0
    while event.merged_into_id and seen < 10:  # merged: the survivor carries on
        event = Event.objects.select_related("category", "grid").get(pk=event.merged_into_id)
        seen += 1
    return event


def rate_tracked(*, code: str, secret: str, satisfaction: str, comment: str = "") -> Event:
    """Rate an anonymous tip after closure: the reporter's ``evaluate`` step, taken on
    behalf of the anonymous account (an unsatisfied rating reopens as for anyone)."""
    event = tracked_event(code, secret)
    with transaction.atomic():
        locked = Event.objects.select_for_update(of=("self",)).select_related("category", "grid").get(pk=event.pk)
        # The anonymous account reported the tip, or follows the event it was merged into.
        actor = Actor(user=anonymous_account())
        return event_evaluate(event=locked, actor=actor, satisfaction=satisfaction, comment=comment)


def me_too(*, user: User, event: Event) -> int:
    """我也遇到: the resident follows the event; answers its me-too count."""
    from backend.accounts.scope import scope_of

    if scope_of(user).is_staff_role:
        raise ApiError("residents_only")
    if event.state not in OPEN_STATES:
        raise ApiError("not_open", detail={"state": event.state})
    if event.reporter_id == user.pk:
        raise ApiError("already_yours")
    Follow.objects.get_or_create(event=event, user=user, defaults={"reason": FollowReason.ME_TOO})
    return Follow.objects.filter(event=event, reason=FollowReason.ME_TOO).count()


def followers_of(event: Event) -> set[int]:
    """Residents who follow the event: its reporter (when a resident) and the follow rows."""
    users = set(Follow.objects.filter(event_id=event.pk).values_list("user_id", flat=True))
    if event.source == Source.PUBLIC_TIP and event.reporter_id:
        users.add(event.reporter_id)
    return users


def followers_to_tell_sql(event_id: str, told_reporter: str) -> str:
    """``followers_of`` less the anonymous account (its tips are followed by their tracking
    codes, not notifications), as SQL, written once: ``event_id`` and ``told_reporter``
    (the reporter when the event is a public tip, else NULL) are SQL, a parameter or a
    column; tables as ``{User}`` and ``{Follow}``. Every step asks it: this statement, or
    the locked read of the event that brings it along (``events.selectors``). The people
    are looked up by key from the reporter and the event's follow rows (an ``OR`` of the
    two made the database read every user, as many as the district's residents)."""
    return (
        f"SELECT u.id FROM {{User}} u WHERE u.username <> '{ANONYMOUS_ACCOUNT}' AND u.id IN "
        f"(SELECT {told_reporter} UNION ALL SELECT f.user_id FROM {{Follow}} f WHERE f.event_id = {event_id})"
    )


FOLLOWERS_TO_TELL = Plain(followers_to_tell_sql("%s", "%s"), User=User, Follow=Follow)


def _followers_to_tell(event: Event) -> set[int]:
    known = getattr(event, "_followers_to_tell", None)  # read with the locked event
    if known is not None:
        return known
    reporter = event.reporter_id if event.source == Source.PUBLIC_TIP else None
    event_id = Event._meta.pk.get_db_prep_value(event.pk, connection)
    return {user_id for (user_id,) in FOLLOWERS_TO_TELL.rows([reporter, event_id])}


def carry_followers(merged: Event, survivor: Event) -> set[int]:
    """A merge never loses a resident: the merged event's reporter and followers follow
    the survivor (in one insert). Answers who was carried over."""
    carried = followers_of(merged) - {survivor.reporter_id}
    already = set(Follow.objects.filter(event_id=survivor.pk, user_id__in=carried).values_list("user_id", flat=True))
    Follow.objects.bulk_create(
        [Follow(event_id=survivor.pk, user_id=u, reason=FollowReason.MERGED) for u in sorted(carried - already)],
        ignore_conflicts=True,
    )
    return carried


MILESTONES = {
    # step → (title 中文, title English, whether the step's note goes along)
    "accept": ("您关注的爆料已受理", "Your tip was accepted", False),
    "reject": ("您关注的爆料未受理", "Your tip was not accepted", True),
    "merge": ("您关注的爆料已与同一问题合并", "Your tip was merged with the same problem", False),
    "dispatch": ("您关注的爆料已交办处理", "Your tip was assigned for handling", False),
    "handle": ("您关注的爆料已处理完毕", "Your tip was handled", True),
    "approve": ("您关注的爆料已办结，请评价", "Your tip was closed: please rate it", False),
}


def tell_followers(event: Event, step: str) -> None:
    """The public milestones (``MILESTONES``), told to every follower in one bulk write
    (``push.services.notify_many``), then a rating request after closure. Called by the
    write path after each step (``events.services.recording._record``)."""
    milestone = MILESTONES.get(step)
    if milestone is None:
        return
    from backend.tips.public import public_status
    from push.models import NotificationKind
    from push.services import notify_many

    if step == "merge" and event.merged_into_id:
        survivor = Event.objects.only("id", "number", "reporter_id").get(pk=event.merged_into_id)
        followers = followers_of(event) | carry_followers(event, survivor)
        if not followers:
            return
        followers -= set(User.objects.filter(pk__in=followers, username=ANONYMOUS_ACCOUNT).values_list("pk", flat=True))
    else:
        followers = _followers_to_tell(event)
    if not followers:
        return
    title, _title_en, with_note = milestone
    code, label = public_status(event.state)
    data = {"event_id": str(event.pk), "number": event.number, "status": code, "milestone": step}
    if step == "merge":
        data["merged_into"] = {"id": str(event.merged_into_id), "number": survivor.number}
    note = ""
    if with_note:
        last = event.result_note if step == "handle" else _last_note(event, step)
        note = last[:200]
        data["note"] = note
    notify_many(
        users=followers,
        kind=NotificationKind.TIP_PROGRESS,
        event=event,
        title=f"{title} {event.number}",
        body=note or label,
        data=data,
    )
    if step == "approve":
        notify_many(
            users=followers,
            kind=NotificationKind.RATE_REQUEST,
            event=event,
            title=f"请为爆料 {event.number} 的办理评价",
            body="满意 / 基本满意 / 不满意",
            data={"event_id": str(event.pk), "number": event.number, "choices": list(Satisfaction.values)},
        )


def _last_note(event: Event, step: str) -> str:
    from backend.events.models import EventAction

    row = EventAction.objects.filter(event=event, action=step).order_by("-seq").only("note").first()
    return row.note if row else ""
