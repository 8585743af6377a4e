import io

import pytest
from django.core.management import call_command
from django.db.models import Count

from backend.events.demo import seed_events
from backend.events.history import verify_chain
from backend.events.models import Category, Event, EventAction, Source, State
from backend.territory.models import PlatformKind


def test_the_catalogue_covers_the_four_platforms_with_enough_subcategories(db):
    leaves = Category.objects.filter(parent__isnull=False)
    assert leaves.count() >= 40
    assert set(leaves.values_list("platform_kind", flat=True)) == set(PlatformKind.values)
    garbage = Category.objects.get(name="暴露垃圾")
    assert (garbage.deadline_unit, garbage.deadline_amount, garbage.grid_admissible) == ("working_days", 1, True)
    assert Category.objects.get(name="违法搭建").deadline_amount == 15
    for name in [
        "占道经营",
        "出店经营",
        "违法停车",
        "消防隐患",
        "群租房",
        "邻里纠纷",
        "油烟扰民",
        "共享单车乱停",
        "独居老人关怀",
    ]:
        assert leaves.filter(name=name).exists(), name


@pytest.fixture
def history(db):
    added = seed_events(1500, progress=False)
    return added


def test_it_generates_a_history_shaped_like_the_seed(history):
    assert history == Event.objects.count() == 1500
    by_source = dict(Event.objects.values_list("source").annotate(n=Count("pk")))
    assert 0.19 < by_source[Source.PUBLIC_TIP] / 1500 < 0.28
    closed = Event.objects.filter(state__in=[State.CLOSED, State.EVALUATED]).count()
    assert closed / 1500 > 0.98
    assert Event.objects.filter(return_count__gt=0).exists()
    assert Event.objects.filter(rework_count__gt=0).exists()
    assert Event.objects.filter(handled_on_spot=True).exists()
    assert EventAction.objects.filter(action="overdue").exists()


def test_every_generated_chain_verifies(history):
    for event in Event.objects.order_by("?")[:200]:
        assert verify_chain(event) == [], event.number


def test_it_only_tops_up_to_the_asked_number(history):
    assert seed_events(1500, progress=False) == 0
    assert seed_events(1600, progress=False) == 100
    numbers = list(Event.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 1600


def test_seed_demo_reports_progress_and_the_rate(db):
    out = io.StringIO()
    call_command("seed_demo", events=50, verbosity=0, stdout=out)
    assert "新增 50" in out.getvalue() and "events/s" in out.getvalue()


def test_the_supervise_command_changes_nothing_on_a_second_run(history):
    first, second = io.StringIO(), io.StringIO()
    call_command("supervise", stdout=first)
    call_command("supervise", stdout=second)
    assert "新超期 0, 自动升级 0" in second.getvalue()
