"""``backend.core.bulk.make`` builds the same unsaved instance as ``Model(**values)``,
and those instances save and read back like any other."""

import uuid

from django.utils import timezone

from backend.accounts.models import User
from backend.core.bulk import insert_instances, make
from backend.events.models import Category, Event, EventAction
from backend.territory.models import Grid


def columns(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_make_builds_what_the_model_constructor_builds_and_it_saves(db):
    user = User.objects.get(username="demo_grid_worker")
    grid = Grid.objects.select_related("community").first()
    category = Category.objects.filter(parent__isnull=False).first()
    now = timezone.now()
    values = dict(id=uuid.uuid4(), number="SC20269999999", source="grid_patrol", category=category, description="测试",
                  grid=grid, community_id=grid.community_id, street_id=grid.community.street_id, severity="normal",
                  reporter=user, reported_at=now, updated_at=now, lat=30.25, lng=120.17)
    made, constructed = make(Event, **values), Event(**values)
    assert columns(made) == columns(constructed)
    assert made.photos == {} and made.photos is not make(Event, **values).photos  # a fresh default each time
    assert made._state.adding and made.category is category and made.reporter is user  # related objects cached
    action = make(EventAction, event=made, seq=1, action="report", actor=user, device=None, server_at=now)
    assert columns(action) == columns(EventAction(event=made, seq=1, action="report", actor=user, device=None, server_at=now))
    insert_instances(Event, [made])
    saved = Event.objects.get(pk=made.pk)
    assert (saved.number, saved.grid_id, saved.reporter_id, saved.photos, saved.lat) == (made.number, grid.pk, user.pk, {}, 30.25)
