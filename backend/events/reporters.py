"""An event's reporter as staff answers show it, read from one rule
(``workflow.REPORTER_CONTACT``): a resident reporter's phone and name only to those
the rule names, a staff reporter's name to whoever sees the event, and every showing
of a resident's data recorded in the access log (``backend.privacy``), one statement
per answer."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Exists, OuterRef

from backend.accounts.models import Role, RoleAssignment, User
from backend.accounts.scope import scope_of
from backend.core.errors import prefers_english
from backend.events.models import Event, EventAction
from backend.events.workflow import REPORTER_CONTACT
from backend.fastpath.statements import Plain
from backend.privacy.log import record_reads
from backend.privacy.models import SubjectKind

FIELDS = "phone,display_name"
NOBODY = {"reporter_kind": None, "reporter_name": None, "reporter_phone": None}


PERSON_FIELDS = ["id", "username", "display_name", "phone"]


def person_sql(user_id: str, row: str = "") -> str:
    """One person as an event's answer shows them: ``PERSON_FIELDS`` and whether they are
    a resident, written once. ``user_id`` is SQL (a parameter or a column); ``row``, a
    function making the values one value (the locked read of the event brings its
    reporter along as JSON: ``events.selectors``). Tables as ``{User}`` and
    ``{RoleAssignment}``."""
    values = (
        f"u.id, u.username, u.display_name, u.phone, EXISTS (SELECT 1 FROM {{RoleAssignment}} r "
        f"WHERE r.user_id = u.id AND r.role = '{Role.RESIDENT.value}')"
    )
    return f"SELECT {f'{row}({values})' if row else values} FROM {{User}} u WHERE u.id = {user_id}"


def person_of(values) -> User:
    """The person of ``person_sql``'s values."""
    *fields, is_resident = values
    person = User.from_db(connection.alias, PERSON_FIELDS, fields)
    person.is_resident = bool(is_resident)
    return person


# One person (an event's reporter, in every detail without the event's locked read), by
# a statement written once: the ORM's form of it cost more to compile than to run.
ONE_PERSON = Plain(person_sql("%s"), User=User, RoleAssignment=RoleAssignment)


def _people(user_ids: Iterable[int | None]) -> dict[int, User]:
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return {}
    if len(ids) == 1:
        return {person.pk: person for person in map(person_of, ONE_PERSON.rows([*ids]))}
    residents = RoleAssignment.objects.filter(user=OuterRef("pk"), role=Role.RESIDENT)
    rows = User.objects.filter(pk__in=ids).annotate(is_resident=Exists(residents))
    return {person.pk: person for person in rows.only("pk", "username", "display_name", "phone")}


def resident_label() -> str:
    return "Resident" if prefers_english() else "居民"


def reporters_shown(viewer: User, events: list[Event], endpoint: str) -> dict:
    """``{event id: {reporter_kind, reporter_name, reporter_phone}}`` for ``viewer``;
    records the residents whose data it shows."""
    known = [getattr(event, "_reporter", False) for event in events]  # read with the event
    if all(person is not False for person in known):
        people = {person.pk: person for person in known if person is not None}
    else:
        people = _people(event.reporter_id for event in events)
    scope = scope_of(viewer)
    shown: set[int] = set()
    answer = {}
    for event in events:
        person = people.get(event.reporter_id)
        if person is None:
            answer[event.id] = NOBODY
        elif not person.is_resident:
            answer[event.id] = {"reporter_kind": "staff", "reporter_name": str(person), "reporter_phone": None}
        elif REPORTER_CONTACT.holds(scope, event):
            answer[event.id] = {
                "reporter_kind": "resident",
                "reporter_name": person.display_name or None,
                "reporter_phone": person.phone or None,
            }
            if person.phone or person.display_name:
                shown.add(person.pk)
        else:
            answer[event.id] = {"reporter_kind": "resident", "reporter_name": None, "reporter_phone": None}
    record_reads(viewer, SubjectKind.RESIDENT, shown, endpoint, fields=FIELDS)
    return answer


def actor_names(viewer: User, event: Event, actions: list[EventAction], endpoint: str) -> dict[int, str]:
    """The name each action's actor is shown by in ``event``'s history: a resident's only
    to those ``REPORTER_CONTACT`` names (recorded), "居民" to everyone else."""
    people = _people(action.actor_id for action in actions)
    may_see = REPORTER_CONTACT.holds(scope_of(viewer), event)
    shown: set[int] = set()
    names = {}
    for pk, person in people.items():
        if not person.is_resident:
            names[pk] = str(person)
        elif may_see and person.display_name:
            names[pk] = person.display_name
            shown.add(pk)
        else:
            names[pk] = resident_label()
    record_reads(viewer, SubjectKind.RESIDENT, shown, endpoint, fields="display_name")
    return names
