"""The worker command (``run_worker``): one pass does each periodic job."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command, get_commands
from django.utils import timezone

from backend.accounts.models import Device
from backend.events.models import Event, State
from push.models import NotificationKind, OutboxState, PushOutbox, PushToken, SentPush
from push.services import notify
from sync.changes import stamp_changes
from sync.models import Change, StampRound
from tests.events_helpers import GRID_A, report


def test_it_is_a_command_of_the_core_app():
    assert get_commands()["run_worker"] == "backend.core"


def test_it_sends_pushes_numbers_the_log_supervises_and_purges_in_one_pass(as_persona, persona_user):
    device = Device.objects.create(user=persona_user("demo_grid_worker"), device_id="phone-worker-1")
    PushToken.objects.update_or_create(device=device, defaults={"token": "good-token-123456"})
    notify(users=[device.user_id], kind=NotificationKind.ASSIGNMENT, title="新任务")
    event_id = report(as_persona("demo_resident"), grid=GRID_A).json()["id"]
    Event.objects.filter(pk=event_id).update(
        state=State.DISPATCHED, deadline_at=timezone.now() - timedelta(hours=1), overdue=False
    )
    stamp_changes()
    tombstone = Change.objects.create(bucket="grid:worker-test", kind="event", entity_id="gone", deleted=True)
    stamped = stamp_changes().stamp
    StampRound.objects.filter(stamp=stamped).update(at=timezone.now() - timedelta(days=400))
    waiting = Change.objects.create(bucket="grid:worker-test", kind="event", entity_id="new", deleted=False)

    out = StringIO()
    call_command("run_worker", once=True, stdout=out)

    assert "sent 1" in out.getvalue() and SentPush.objects.filter(token="good-token-123456").exists()
    assert not PushOutbox.objects.filter(state=OutboxState.PENDING, notification__user=device.user).exists()
    waiting.refresh_from_db()
    assert waiting.stamp is not None  # the log numbered
    assert Event.objects.get(pk=event_id).overdue  # supervision ran
    assert not Change.objects.filter(pk=tombstone.pk).exists()  # the old tombstone purged
