"""What seed_demo promises for the intake, and the admin's one-time secret."""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client

from backend.accounts.models import User
from backend.events.models import Event
from backend.intake.models import (
    AlertCounter,
    Camera,
    Household,
    HouseholdKind,
    PowerAlert,
    PowerReading,
    SourceSystem,
    VideoAlert,
)
from backend.intake.signing import secret_digest
from backend.territory.models import Grid


def test_the_demo_has_cameras_households_a_week_of_readings_and_alerts(db):
    assert Camera.objects.filter(source__key_id="demo-video").count() == Grid.objects.count()
    households = Household.objects.filter(source__key_id="demo-power")
    assert households.filter(kind=HouseholdKind.ELDER_ALONE).count() == 30
    assert households.filter(kind=HouseholdKind.RENTAL).count() == 60
    assert all(h.unit_id and h.grid_id == h.unit.building.grid_id for h in households.select_related("unit__building"))
    hours = PowerReading.objects.order_by("hour").values_list("hour", flat=True)
    assert hours.last() - hours.first() == timedelta(days=7, hours=-1)
    fired = set(PowerAlert.objects.values_list("rule__code", flat=True))
    assert "elder_near_zero" in fired  # the 群租 suspicion and confirmed alerts come with --events
    assert VideoAlert.objects.filter(state="dismissed").exists() and VideoAlert.objects.filter(state="open").exists()
    assert not Event.objects.exists()  # without --events the demo's event table stays empty
    assert sum(AlertCounter.objects.values_list("dropped", flat=True)) > 0


def test_the_admin_issues_a_secret_once_and_keeps_only_its_digest(db):
    admin = Client()
    admin.force_login(User.objects.get(username="demo_admin"))
    answer = admin.post(
        "/admin/intake/sourcesystem/add/",
        {"name": "城管视频平台", "kind": "video", "key_id": "cg-video", "requests_per_minute": 600, "active": "on"},
        follow=True,
    )
    assert answer.status_code == 200
    shown = " ".join(str(m) for m in get_messages(answer.wsgi_request))
    secret = re.search(r"shown once: (\S+)", shown).group(1)
    source = SourceSystem.objects.get(key_id="cg-video")
    assert source.secret_hash == secret_digest(secret) and secret not in source.secret_hash
    assert LogEntry.objects.filter(object_id=str(source.pk), content_type__model="sourcesystem").exists()
