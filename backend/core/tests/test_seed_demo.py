import io

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import shape

from backend.accounts.models import RoleAssignment, User
from backend.territory.models import Community, Department, Grid, Platform, Street
from conftest import PASSWORD, PERSONAS


def snapshot() -> dict:
    return {
        model.__name__: sorted(map(repr, model.objects.values_list()))
        for model in (Street, Community, Grid, Department, Platform, User, RoleAssignment)
    }


def test_it_builds_a_district_shaped_like_the_seed(db):
    assert Street.objects.count() == 6
    assert Community.objects.count() == 54
    assert Grid.objects.count() == 260
    assert Department.objects.count() == 9
    assert Platform.objects.count() == 6 * 4
    assert set(User.objects.values_list("username", flat=True)) >= set(PERSONAS)


def test_it_lays_out_grids_that_do_not_overlap(db):
    polygons = [shape(p) for p in Grid.objects.values_list("polygon", flat=True)]
    total = sum(p.area for p in polygons)
    from shapely import union_all

    assert union_all(polygons).area == pytest.approx(total, rel=1e-9)


def test_it_changes_nothing_when_run_twice(db):
    before = snapshot()
    out = io.StringIO()
    call_command("seed_demo", password=PASSWORD, stdout=out)
    assert snapshot() == before
    assert "新建 0, 更新 0" in out.getvalue()


def test_it_restores_a_renamed_unit(db):
    grid = Grid.objects.order_by("code").first()
    original = grid.name
    grid.name = "改过的名字"
    grid.save()
    out = io.StringIO()
    call_command("seed_demo", password=PASSWORD, stdout=out)
    grid.refresh_from_db()
    assert grid.name == original
    assert "更新 1" in out.getvalue()


def test_it_refuses_to_run_in_production_mode(db, settings):
    from dataclasses import replace

    settings.CONFIG = replace(settings.CONFIG, environment="production")
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=io.StringIO())


def test_it_skips_a_non_empty_database_with_if_empty(db):
    out = io.StringIO()
    call_command("seed_demo", if_empty=True, stdout=out)
    assert "跳过" in out.getvalue()


def test_it_sets_a_new_password_on_existing_demo_accounts(anonymous):
    call_command("seed_demo", password="first-password", addresses=0, stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", password="second-password", addresses=0, stdout=out)
    from backend.accounts.demo import demo_personas
    from backend.territory.models import District

    # Every demo account (the personas and the stationed unit's and department's handlers).
    assert f"更新 {len(demo_personas(District.objects.get()))}" in out.getvalue()
    body = {"username": "demo_dispatcher", "password": "second-password", "device_id": "seed-test-phone"}
    assert anonymous.post("/auth/login", body).status_code == 200
    stale = {**body, "password": "first-password"}
    assert anonymous.post("/auth/login", stale).status_code == 401


def test_it_keeps_the_password_of_existing_accounts_when_none_is_given(anonymous):
    """``seed_demo --events N`` on a seeded database (the bench does it) must not put the
    default password back on accounts given another one."""
    call_command("seed_demo", password="chosen-password", addresses=0, stdout=io.StringIO())
    call_command("seed_demo", addresses=0, stdout=io.StringIO())
    body = {"username": "demo_dispatcher", "password": "chosen-password", "device_id": "seed-test-phone"}
    assert anonymous.post("/auth/login", body).status_code == 200
