"""The sync log's maintenance commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sync.changes import clock
from sync.models import Change, StampRound
from sync.tests.phones import phone_of, server_state


def test_sync_rebuild_starts_a_new_epoch_and_phones_resync_to_the_same_state(db):
    phone = phone_of("demo_grid_worker")
    phone.pull()
    before = clock().epoch
    rows = Change.objects.count()
    out = StringIO()
    call_command("sync_rebuild", stdout=out, verbosity=0)
    assert clock().epoch != before and "rebuilt" in out.getvalue()
    assert Change.objects.filter(deleted=False).count() <= rows
    phone.pull()  # answered with a reset, then a full resync
    assert phone.snapshot() == server_state("demo_grid_worker")


def test_sync_compact_purges_old_tombstones_only(db):
    Change.objects.create(bucket="grid:999999", kind="event", entity_id="gone", deleted=True, stamp=None)
    from sync.changes import stamp_changes

    stamp_changes()
    StampRound.objects.update(at=timezone.now() - timezone.timedelta(days=40))
    Change.objects.create(bucket="grid:999999", kind="event", entity_id="recent", deleted=True, stamp=None)
    stamp_changes()
    out = StringIO()
    call_command("sync_compact", "--days", "30", stdout=out)
    assert not Change.objects.filter(entity_id="gone").exists()
    assert Change.objects.filter(entity_id="recent").exists()
    assert clock().horizon > 0
    with pytest.raises(CommandError):
        call_command("sync_compact", "--days", "0")
