"""The one way a step is written: the transition table is checked, the event saved
with ``update_fields`` and its hash-chained history row appended, all in the
caller's transaction. The error codes of the event services are registered here."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.core.errors import ApiError, register
from backend.events.history import build_action
from backend.events.models import (
    Event,
)
from backend.events.workflow import STEPS, Relation, check_step
from backend.fastpath import record

register("event_not_found", 404, "事件不存在", "Event not found")
register("unknown_category", 422, "事项分类不存在或已停用", "Unknown or inactive category")
register(
    "location_outside_district", 422, "位置不在本区任何网格内", "The location is outside every grid of the district"
)
register("location_required", 422, "请提供位置、地址或网格", "A location, an address or a grid is required")
register("deadline_in_past", 422, "处置时限不能早于当前时间", "The deadline is in the past")
register(
    "not_on_admission_list",
    422,
    "该事项不在网格事务准入清单内，网格员不能承办",
    "This category is not on the grid admission list: grid workers may not take it",
)
register("source_not_allowed", 422, "您的角色不能上报此来源的事件", "Your role cannot report events of this source")
register("photos_missing", 422, "照片数量不足", "Not enough photos for this category")
register("event_id_taken", 409, "该事件标识已被占用", "This event id is already used")
register("invalid_target", 422, "派遣对象无效", "Invalid dispatch target")
register("reason_required", 422, "请填写理由", "A reason is required")
register("invalid_extension", 422, "延期时间必须晚于当前时限", "The extension must end after the current deadline")
register("invalid_merge", 422, "不能合并到该事件", "Cannot merge into that event")


def tell_about(event: Event, kind: str, users, title: str) -> None:
    """Notification rows for the people concerned, in this transaction (push app)."""
    from push.services import notify

    notify(
        users=users,
        kind=kind,
        event=event,
        title=f"{title} {event.number}",
        body=f"{event.category.name} · {event.grid.name}",
        data={"event_id": str(event.pk), "number": event.number, "state": event.state},
    )


NOTE_LIMIT = 2000


def _record(
    event: Event,
    *,
    action: str,
    actor: Actor,
    role: str,
    from_state: str,
    note: str = "",
    data: dict | None = None,
    now: datetime | None = None,
    fields: tuple[str, ...] = (),
) -> Event:
    """Save the changed fields and append the action row in one go."""
    now = now or timezone.now()
    row = build_action(
        event,
        action=action,
        actor=actor.user,
        actor_role=role,
        device=actor.device,
        device_ref=actor.device.device_id if actor.device else "",
        from_state=from_state,
        to_state=event.state,
        note=note,
        data=data or {},
        server_at=now,
        device_at=actor.device_at,
    )
    update_fields = [*fields, "state", "action_count", "last_action_hash", "updated_at"]
    if record.applies():  # PostgreSQL: both rows in one statement
        record.save_with_action(event, row, update_fields)
    else:
        event.save(update_fields=update_fields)
        row.save()
    from push.services import broadcast_event_change
    from sync.changes import changed

    changed([event])  # now, or once at the end of the command that made this save
    broadcast_event_change(event)
    from backend.tips.services import tell_followers

    tell_followers(event, action)  # residents following it, at each public milestone
    return event


def _step(
    event: Event,
    name: str,
    actor: Actor,
    *,
    note: str = "",
    data: dict | None = None,
    fields: tuple[str, ...] = (),
    changes=None,
    now: datetime | None = None,
) -> Event:
    relation: Relation = check_step(name, actor.scope, event)
    from_state = event.state
    step = STEPS[name]
    if step.to_state:
        event.state = step.to_state
    if changes:
        changes(event, relation)
    return _record(
        event,
        action=name,
        actor=actor,
        role=relation.role,
        from_state=from_state,
        note=note,
        data=data,
        fields=fields,
        now=now,
    )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApiError("reason_required")
    return reason


def system_record(
    event: Event,
    *,
    action: str,
    now: datetime,
    note: str,
    data: dict | None = None,
    fields: tuple[str, ...] = (),
    from_state: str | None = None,
) -> Event:
    """An action taken by the supervision job, not by a person."""
    return _record(
        event,
        action=action,
        actor=Actor(user=None),
        role="system",
        from_state=event.state if from_state is None else from_state,
        note=note,
        data=data,
        now=now,
        fields=fields,
    )


def grace_period() -> timedelta:
    return timedelta(hours=settings.SUPERVISION["GRACE_HOURS"])
