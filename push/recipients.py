"""Who is told about what happens to an event."""

from __future__ import annotations

from backend.accounts.models import Role, RoleAssignment
from backend.events.models import Event, Level
from backend.fastpath.statements import Plain

# The handlers of a unit (every assignment, approve, rework, urge tells them): statements
# written once, one per kind of unit (``fastpath.statements.Plain``), held equal to the
# ORM's filter by push/tests/test_recipients.py.
HANDLERS_OF = {
    column: Plain(
        f"SELECT r.user_id FROM {{RoleAssignment}} r WHERE r.role = %s AND r.{column} = %s",
        RoleAssignment=RoleAssignment,
    )
    for column in ("platform_id", "department_id", "stationed_unit_id")
}


def holders_of(event: Event) -> set[int]:
    if event.holder_user_id:
        return {event.holder_user_id}
    if event.holder_platform_id:
        column, unit = "platform_id", event.holder_platform_id
    elif event.holder_department_id:
        column, unit = "department_id", event.holder_department_id
    elif event.holder_unit_id:
        column, unit = "stationed_unit_id", event.holder_unit_id
    else:
        return set()
    return {user_id for (user_id,) in HANDLERS_OF[column].rows([Role.HANDLER.value, unit])}


def dispatchers_of(event: Event) -> set[int]:
    return set(
        RoleAssignment.objects.filter(role=Role.DISPATCHER, street_id=event.street_id).values_list("user_id", flat=True)
    )


def answerable_at_level(event: Event) -> set[int]:
    """Who answers for the event at its current level."""
    if event.level == Level.COMMUNITY:
        return set(
            RoleAssignment.objects.filter(role=Role.SECRETARY, community_id=event.community_id).values_list(
                "user_id", flat=True
            )
        )
    if event.level == Level.DISTRICT:
        return set(RoleAssignment.objects.filter(role=Role.COMMANDER).values_list("user_id", flat=True))
    return dispatchers_of(event)
