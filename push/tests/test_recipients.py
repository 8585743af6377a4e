"""``holders_of`` (statements written once, ``recipients.HANDLERS_OF``) answers what the
ORM's filter of the handlers' role assignments answers, for every unit that may hold."""

from __future__ import annotations

import pytest

from backend.accounts.models import Role, RoleAssignment
from backend.events.models import Event
from backend.territory.models import Department, Platform, StationedUnit
from push.recipients import holders_of

pytestmark = pytest.mark.django_db


def orm_holders(**condition) -> set[int]:
    return set(RoleAssignment.objects.filter(role=Role.HANDLER, **condition).values_list("user_id", flat=True))


def test_the_holders_of_every_unit_are_the_orms():
    seen = 0
    for platform in Platform.objects.all():
        assert holders_of(Event(holder_platform_id=platform.pk)) == orm_holders(platform_id=platform.pk)
        seen += bool(orm_holders(platform_id=platform.pk))
    for department in Department.objects.all():
        assert holders_of(Event(holder_department_id=department.pk)) == orm_holders(department_id=department.pk)
    for unit in StationedUnit.objects.all():
        assert holders_of(Event(holder_unit_id=unit.pk)) == orm_holders(stationed_unit_id=unit.pk)
    assert seen  # the demo has handlers
    assert holders_of(Event(holder_user_id=5, holder_platform_id=1)) == {5}
    assert holders_of(Event()) == set()


def test_the_holders_read_with_the_locked_event_are_the_statements_and_a_new_holder_is_read_again(as_persona):
    """``events.selectors.access_event(lock=True)`` brings the handlers of the unit
    holding the event (``recipients.holders_sql``): the same people ``holders_of`` reads
    by its own statements, for a platform, a department, a stationed unit, a person and
    nobody; after the step changes the holder, ``holders_of`` reads the new unit's."""
    from django.db import transaction

    from backend.accounts.models import User
    from backend.events.selectors import access_event
    from tests.events_helpers import report

    worker = as_persona("demo_grid_worker")
    event = Event.objects.get(pk=report(worker, source="grid_patrol").json()["id"])
    viewer = User.objects.get(username="demo_commander")
    platforms = list(Platform.objects.all()[:2])
    holders = [
        {"holder_platform_id": platforms[0].pk},
        {"holder_department_id": Department.objects.first().pk},
        {"holder_unit_id": StationedUnit.objects.first().pk},
        {"holder_user_id": viewer.pk, "holder_platform_id": platforms[0].pk},
        {},
    ]
    seen = 0
    for holder in holders:
        none = {
            "holder_platform_id": None,
            "holder_department_id": None,
            "holder_unit_id": None,
            "holder_user_id": None,
        }
        Event.objects.filter(pk=event.pk).update(**{**none, **holder})
        plain = holders_of(Event(**holder))
        with transaction.atomic():
            locked = access_event(viewer, event.pk, lock=True)
            if not holder.get("holder_user_id"):
                assert set(locked._holders[1]) == plain, holder
            assert holders_of(locked) == plain, holder
            seen += bool(plain)
            locked.holder_platform_id, locked.holder_department_id, locked.holder_unit_id = platforms[1].pk, None, None
            locked.holder_user_id = None
            assert holders_of(locked) == orm_holders(platform_id=platforms[1].pk)
    assert seen >= 2
