"""Field edits made offline (``event.update_fields``) merge field by field against the
version the phone saw (ODK Central): a field nobody else touched since is applied; a
field changed on both sides becomes a conflict record with both values, which a
dispatcher or secretary of the event's territory resolves."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import scope_of
from backend.core.errors import ApiError, register
from backend.events.models import Event, EventAction
from backend.events.services import Actor, check_editable, event_edit, tell_about
from backend.events.workflow import RELATIONS, STEPS, any_of, as_q, check_step, prefixed
from push.models import NotificationKind
from push.recipients import dispatchers_of
from sync.models import Conflict, ConflictStatus

register(
    "base_version_required", 422, "离线修改须注明所依据的版本", "An offline edit must say which version it was made on"
)
register("invalid_base_version", 422, "所依据的版本无效", "The base version is not a version of this event")
register("conflict_resolved", 409, "该冲突已处理", "This conflict has been resolved already")
register(
    "conflicts_forbidden",
    403,
    "仅调度员、社区书记和区指挥中心处理冲突",
    "Only dispatchers, secretaries and the command centre resolve conflicts",
)


def fields_changed_since(event: Event, base_version: int, *, device=None) -> dict[str, object]:
    """Fields edited after ``base_version`` by anyone but ``device``, each with its value
    before the first such edit. A phone's own edits made later than its base do not
    count against it: two edits it queued offline on one base are one person's
    successive intentions, and the later one wins (docs/sync.md)."""
    changed: dict[str, object] = {}
    edits = EventAction.objects.filter(event=event, seq__gt=base_version, action="edit")
    if device is not None:
        edits = edits.exclude(device=device)
    edits = edits.order_by("seq").values_list("data", flat=True)
    for data in edits:
        for name, (old, _new) in data.get("fields", {}).items():
            changed.setdefault(name, old)
    return changed


def resolvers_of(event: Event) -> set[int]:
    secretaries = RoleAssignment.objects.filter(role=Role.SECRETARY, community_id=event.community_id).values_list(
        "user_id", flat=True
    )
    return dispatchers_of(event) | set(secretaries)


def event_update_fields(
    *, event: Event, actor: Actor, fields: dict, base_version: int | None, mutation_id: int | None = None
) -> dict:
    """Merge a phone's edit. Returns the result's status (``applied``: nothing changed
    since its base; ``merged``: others changed other fields meanwhile; ``conflict``) and data."""
    check_editable(fields)
    check_step("edit", actor.scope, event)
    if base_version is None:  # a blind overwrite would lose whatever changed meanwhile
        raise ApiError("base_version_required")
    version = event.action_count
    base = base_version
    if not 1 <= base <= version:
        raise ApiError("invalid_base_version", detail={"base_version": base_version, "version": version})
    since = fields_changed_since(event, base, device=actor.device) if base < version else {}
    apply, conflicts = {}, []
    for name, value in fields.items():
        current = getattr(event, name)
        if value == current:
            continue
        if name in since:
            conflicts.append(
                Conflict(
                    event=event,
                    field=name,
                    base_version=base,
                    base_value=since[name],
                    server_value=current,
                    phone_value=value,
                    user=actor.user,
                    device=actor.device,
                    mutation_id=mutation_id,
                )
            )
        else:
            apply[name] = value
    if apply:
        event_edit(event=event, actor=actor, fields=apply, data={"base_version": base}, check=False)
    if conflicts:
        Conflict.objects.bulk_create(conflicts)
        tell_about(event, NotificationKind.CONFLICT, resolvers_of(event), "离线修改冲突待处理")
    status = "conflict" if conflicts else ("merged" if base < version else "applied")
    return {
        "status": status,
        "data": {
            "event_id": str(event.pk),
            "version": event.action_count,
            "applied_fields": sorted(apply),
            "conflict_ids": [c.pk for c in conflicts],
            "conflicts": [{"id": c.pk, "field": c.field} for c in conflicts],
        },
    }


# A resolution is an edit of the event: its resolvers are the relations of the ``edit``
# step that judge a territory's events (workflow.py), so nobody settles a field they
# could not edit (a secretary, a district-level event of her community).
RESOLVERS = ("street_dispatcher", "community_secretary", "commander")
assert set(RESOLVERS) <= set(STEPS["edit"].relations)


def q_conflicts(user: User) -> Q:
    scope = scope_of(user)
    if scope.district_wide:
        return Q()
    if not scope.has(Role.DISPATCHER, Role.SECRETARY):
        raise ApiError("conflicts_forbidden")
    return as_q(prefixed(any_of(RELATIONS[name].q(scope) for name in RESOLVERS), "event__"))


def conflicts_visible_to(user: User, status: str | None) -> QuerySet[Conflict]:
    conflicts = (
        Conflict.objects.filter(q_conflicts(user)).select_related("event", "user").order_by("-created_at", "-pk")
    )
    return conflicts if status is None else conflicts.filter(status=status)


def access_conflict(user: User, conflict_id: int, *, lock: bool = False) -> Conflict:
    conflicts = Conflict.objects.filter(q_conflicts(user))
    if lock:
        conflicts = conflicts.select_for_update(of=("self",))
    conflict = conflicts.select_related("event").filter(pk=conflict_id).first()
    if conflict is None:
        raise ApiError("not_found")
    return conflict


def conflict_resolve(*, conflict: Conflict, actor: Actor, keep: str, value=None, note: str = "") -> Conflict:
    """Keep the server's value, the phone's, or a third value; the event's history
    records the choice and the phone's user is told."""
    if conflict.status != ConflictStatus.OPEN:
        raise ApiError("conflict_resolved")
    if keep not in ("server", "phone", "value"):
        raise ApiError("validation_error", detail={"keep": "server | phone | value"})
    event = Event.objects.select_for_update().select_related("category", "grid").get(pk=conflict.event_id)
    final = {"server": getattr(event, conflict.field), "phone": conflict.phone_value, "value": value}[keep]
    check_editable({conflict.field: final})
    # Every resolution leaves its row, with the resolver's note, even when the value
    # stays as it is (keep: server, or a phone value the server reached meanwhile).
    event_edit(
        event=event,
        actor=actor,
        fields={conflict.field: final},
        note=note,
        check=False,
        record_unchanged=True,
        data={"conflict_id": conflict.pk, "resolution": keep, "field": conflict.field, "value": final},
    )
    conflict.status = ConflictStatus.RESOLVED
    conflict.resolution = keep
    conflict.resolved_value = final
    conflict.resolved_by = actor.user
    conflict.resolved_at = timezone.now()
    conflict.save(update_fields=["status", "resolution", "resolved_value", "resolved_by", "resolved_at"])
    tell_about(event, NotificationKind.CONFLICT, {conflict.user_id}, "离线修改冲突已处理")
    return conflict
