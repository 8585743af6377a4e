"""Who is told about what happens to an event."""

from __future__ import annotations

from backend.accounts.models import Role, RoleAssignment
from backend.events.models import Event, Level


def holders_of(event: Event) -> set[int]:
    if event.holder_user_id:
        return {event.holder_user_id}
    condition = {}
    if event.holder_platform_id:
        condition = {"platform_id": event.holder_platform_id}
    elif event.holder_department_id:
        condition = {"department_id": event.holder_department_id}
    elif event.holder_unit_id:
        condition = {"stationed_unit_id": event.holder_unit_id}
    if not condition:
        return set()
    return set(RoleAssignment.objects.filter(role=Role.HANDLER, **condition).values_list("user_id", flat=True))


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
