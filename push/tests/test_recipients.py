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
