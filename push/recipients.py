"""Who is told about what happens to an event."""

from __future__ import annotations

from backend.accounts.models import Role, RoleAssignment
from backend.events.models import Event, Level
from backend.fastpath.statements import Plain


# The handlers of a unit (every assignment, approve, rework, urge tells them): statements
# written once, one per kind of unit (``fastpath.statements.Plain``), held equal to the
# ORM's filter by push/tests/test_recipients.py.
def handlers_sql(column: str, unit: str) -> str:
    """The handlers of a unit as SQL, written once: ``unit`` is SQL (a parameter or a
    column), ``column`` the role's column naming its kind of unit. Table as
    ``{RoleAssignment}``."""
    return f"SELECT r.user_id FROM {{RoleAssignment}} r WHERE r.role = '{Role.HANDLER.value}' AND r.{column} = {unit}"


HANDLERS_OF = {
    column: Plain(handlers_sql(column, "%s"), RoleAssignment=RoleAssignment)
    for column in ("platform_id", "department_id", "stationed_unit_id")
}

# Which unit holds an event, in the order the holder's fields are asked (a person
# holding it comes before all): the event's field and the role's column naming that unit.
HOLDER_UNITS = (
    ("holder_platform_id", "platform_id"),
    ("holder_department_id", "department_id"),
    ("holder_unit_id", "stationed_unit_id"),
)


def holder_unit(event: Event) -> tuple[int | None, ...]:
    """The event's holding unit fields, in ``HOLDER_UNITS``' order."""
    return tuple(getattr(event, field) for field, _ in HOLDER_UNITS)


def holders_sql(event: str) -> str:
    """The handlers of the unit holding an event (``event`` the SQL alias of its row) as
    one JSON array, NULL when no unit holds it: ``holders_of``'s rule as a subquery, so a
    step's locked read brings them along (``events.selectors``). Tables as
    ``{RoleAssignment}``; the JSON function as ``{json_agg}``."""
    branches = " ".join(
        f"WHEN {event}.{field} IS NOT NULL THEN (SELECT {{json_agg}}(h.user_id) FROM "
        f"({handlers_sql(column, f'{event}.{field}')}) h)"
        for field, column in HOLDER_UNITS
    )
    return f"CASE {branches} END"


def holders_of(event: Event) -> set[int]:
    if event.holder_user_id:
        return {event.holder_user_id}
    read = getattr(event, "_holders", None)  # read with the locked event, for the unit then holding it
    if read is not None and read[0] == holder_unit(event):
        return set(read[1])
    platform = Event.holder_platform.field.get_cached_value(event, None)
    known = getattr(platform, "_handlers", None)  # read with the platform (a dispatch's target)
    if known is not None and platform.pk == event.holder_platform_id:
        return set(known)
    for (_, column), unit in zip(HOLDER_UNITS, holder_unit(event)):
        if unit:
            return {user_id for (user_id,) in HANDLERS_OF[column].rows([unit])}
    return set()


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
