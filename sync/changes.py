"""Writing the change log (``sync.models.Change``) and numbering it.

Every write to a replicated entity rewrites that entity's rows in the log, in the
writer's transaction: an upsert in each bucket it belongs to now, a tombstone in each
bucket it has left. Rows are written unstamped; ``stamp_changes`` gives all committed
unstamped rows the next stamp round under a lock, so a transaction that commits late
can only land *after* every cursor already handed out, never behind one.

Events are written to the log by their write path, explicitly: ``changed(events)``
where an event is saved, and a command (``backend.events.commands``) wraps its work
in ``changes_collected()`` so that an event saved twice in it (a step, then a photo
attached) has its rows rewritten once, at the end, from its final state. The
reference data edited through the admin and imports (territory, catalogue, key
subjects) and patrols and visits keep the ``post_save`` signal: one save each.
"""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, models, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from tqdm import tqdm

from backend.events.models import Event
from backend.fastpath import changelog
from backend.fastpath.bulk import insert_rows
from backend.territory.models import Community, Grid
from sync.entities import KIND_OF_MODEL, KINDS, EntityKind, bucket_row
from sync.models import Change, StampRound, SyncClock

CHUNK = 2000
CHANGE_COLUMNS = ("stamp", "bucket", "kind", "entity_id", "deleted")
CLOCK_SQL = (
    f"SELECT id, stamp, epoch, horizon, EXISTS (SELECT 1 FROM {Change._meta.db_table} WHERE stamp IS NULL) "
    f"FROM {SyncClock._meta.db_table} WHERE id = 1"
)


def track(kind: EntityKind, rows: list[dict], *, created: bool = False, deleted: bool = False) -> None:
    """Rewrite the log rows of these entities (``rows`` hold ``kind.bucket_fields``).
    ``created``: they are new, so there is nothing to rewrite."""
    if not rows:
        return
    ids = [str(row["id"]) for row in rows]
    if not deleted and changelog.applies():  # PostgreSQL: the same rows in one statement
        if created:
            for start in range(0, len(ids), CHUNK):
                part = slice(start, start + CHUNK)
                changelog.insert(kind.name, ids[part], kind.buckets(rows[part]), dirty=kind.name == "event")
        else:
            changelog.rewrite(kind.name, ids, kind.buckets(rows), dirty=kind.name == "event")
        return
    if kind.name == "event":  # the KPIs' facts of these events are stale (backend/stats)
        from backend.stats.facts import mark_dirty

        mark_dirty(ids)
    previous: dict[str, set[str]] = defaultdict(set)
    if not created:
        for entity_id, bucket in _delete_rows(kind.name, ids):
            previous[entity_id].add(bucket)
    current = [set() for _ in rows] if deleted else kind.buckets(rows)
    name = kind.name
    new = []
    for entity_id, buckets in zip(ids, current):
        new.extend((None, bucket, name, entity_id, False) for bucket in buckets)
        new.extend((None, bucket, name, entity_id, True) for bucket in previous[entity_id] - buckets)
    for start in range(0, len(new), CHUNK):
        insert_rows(Change, CHANGE_COLUMNS, new[start : start + CHUNK])


def _delete_rows(kind: str, ids: list[str]) -> list[tuple[str, str]]:
    """Delete these entities' log rows and say which (entity, bucket) they were: one
    ``DELETE … RETURNING`` (every step rewrites its event's rows; reading them first
    was a statement more), or a read and a delete where SQLite is older than 3.35."""
    if not connection.features.can_return_columns_from_insert:  # RETURNING is missing
        rows = list(Change.objects.filter(kind=kind, entity_id__in=ids).values_list("id", "entity_id", "bucket"))
        if rows:
            Change.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        return [(entity_id, bucket) for _, entity_id, bucket in rows]
    table = connection.ops.quote_name(Change._meta.db_table)
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            cursor.execute(
                f"DELETE FROM {table} WHERE kind = %s AND entity_id IN ({', '.join(['%s'] * len(part))}) "
                "RETURNING entity_id, bucket",
                [kind, *part],
            )
            found.extend(cursor.fetchall())
    return found


def track_instances(instances: Iterable[models.Model], *, created: bool = False) -> None:
    by_kind: dict[EntityKind, list[dict]] = defaultdict(list)
    for instance in instances:
        kind = KIND_OF_MODEL[type(instance)]
        by_kind[kind].append(bucket_row(kind, instance))
    for kind, rows in by_kind.items():
        track(kind, rows, created=created)


class _Pending(threading.local):
    """The entities changed inside the innermost ``changes_collected`` of this thread:
    (model, pk) -> [latest instance, created]."""

    def __init__(self) -> None:
        self.stack: list[dict[tuple, list]] = []


_pending = _Pending()


def changed(instances: Iterable[models.Model], *, created: bool = False) -> None:
    """These entities were saved: write their log rows now, or, inside
    ``changes_collected``, once when it ends (from the last instance saved)."""
    if not _pending.stack:
        track_instances(instances, created=created)
        return
    pending = _pending.stack[-1]
    for instance in instances:
        key = (type(instance), instance.pk)
        if key in pending:
            pending[key][0] = instance  # the latest save holds the final state; "created" stays the first's
        else:
            pending[key] = [instance, created]


@contextmanager
def changes_collected(*, write: bool = True) -> Iterator[dict[tuple, list]]:
    """Collect ``changed`` entities and write their log rows once when the block ends
    without an error, inside the caller's transaction. On an error nothing is written:
    the block's transaction or savepoint is being rolled back. A nested block hands
    what it collected to the outer one, whose end writes. ``write=False``: the outermost
    block leaves what it collected in the dict it yields, for the caller to write
    (``write_collected``, or with other rows in one statement: ``backend.events.writes``)."""
    pending: dict[tuple, list] = {}
    _pending.stack.append(pending)
    try:
        yield pending
    finally:
        _pending.stack.pop()
    if _pending.stack:
        outer = _pending.stack[-1]
        for key, (instance, created) in pending.items():
            if key in outer:
                outer[key][0] = instance
            else:
                outer[key] = [instance, created]
        pending.clear()
        return
    if write:
        write_collected(pending)


def write_collected(pending: dict[tuple, list]) -> None:
    """The log rows of what a ``changes_collected`` block collected."""
    for created in (True, False):
        instances = [instance for instance, new in pending.values() if new is created]
        if instances:
            track_instances(instances, created=created)


def rewrites_collected(pending: dict[tuple, list]) -> list[tuple[str, list[str], list[set[str]], bool]] | None:
    """What a ``changes_collected`` block collected as ``changelog.rewrite``'s arguments,
    one ``(kind, ids, buckets, dirty)`` per kind, as ``track`` gives them, when every
    entity is an existing one and the rewrite applies (PostgreSQL); else None
    (``write_collected`` writes them)."""
    if not changelog.applies() or any(created for _, created in pending.values()):
        return None
    by_kind: dict[EntityKind, list[dict]] = defaultdict(list)
    for instance, _ in pending.values():
        kind = KIND_OF_MODEL[type(instance)]
        by_kind[kind].append(bucket_row(kind, instance))
    return [
        (kind.name, [str(row["id"]) for row in rows], kind.buckets(rows), kind.name == "event")
        for kind, rows in by_kind.items()
    ]


def _on_save(sender, instance, created: bool = False, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    track_instances([instance], created=created)
    if sender is Grid:
        # A grid joining or leaving decides which buckets its community and street are in.
        track(KINDS["community"], [{"id": instance.community_id}])
        track(
            KINDS["street"],
            [{"id": Community.objects.filter(pk=instance.community_id).values_list("street_id", flat=True).first()}],
        )


def _on_delete(sender, instance, **kwargs) -> None:
    kind = KIND_OF_MODEL[sender]
    track(kind, [bucket_row(kind, instance)], deleted=True)


# Written by their write path through ``changed`` (see the module's docstring).
EXPLICIT = {Event}


def connect_signals() -> None:
    for model in KIND_OF_MODEL:
        if model in EXPLICIT:
            post_delete.connect(_on_delete, sender=model, dispatch_uid=f"sync-untrack-{model.__name__}")
            continue
        post_save.connect(_on_save, sender=model, dispatch_uid=f"sync-track-{model.__name__}")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"sync-untrack-{model.__name__}")


def clock() -> SyncClock:
    return SyncClock.objects.get_or_create(pk=1)[0]


def stamp_changes() -> SyncClock:
    """Number the committed unstamped rows with the next round; returns the clock
    (one query when nothing is waiting: the empty pull's path)."""
    # Raw SQL: every pull starts here, and the ORM's compiling costs more than the query.
    with connection.cursor() as cursor:
        cursor.execute(CLOCK_SQL)
        row = cursor.fetchone()
    if row is not None and not row[4]:
        return SyncClock(pk=row[0], stamp=row[1], epoch=row[2], horizon=row[3])
    with transaction.atomic():
        clock()
        state = SyncClock.objects.select_for_update().get(pk=1)
        round_ = state.stamp + 1
        if Change.objects.filter(stamp__isnull=True).update(stamp=round_):
            state.stamp = round_
            state.save(update_fields=["stamp"])
            StampRound.objects.create(stamp=round_, at=timezone.now())
        return state


def _tombstone_horizon(older_than: timedelta) -> int | None:
    """The last stamp numbered before ``older_than`` ago: tombstones up to it may go."""
    return (
        StampRound.objects.filter(at__lt=timezone.now() - older_than)
        .order_by("-stamp")
        .values_list("stamp", flat=True)
        .first()
    )


def count_tombstones(*, older_than: timedelta) -> int:
    """How many tombstones ``purge_tombstones`` would delete now (a dry run)."""
    horizon = _tombstone_horizon(older_than)
    if horizon is None:
        return 0
    return Change.objects.filter(deleted=True, stamp__lte=horizon).count()


def purge_tombstones(*, older_than: timedelta) -> int:
    """Delete tombstones stamped before ``older_than`` ago. Cursors from before the new
    horizon answer ``expired_cursor`` and resync; an up-to-date phone never does
    (its cursor moves on even when nothing of its scope changes)."""
    horizon = _tombstone_horizon(older_than)
    if horizon is None:
        return 0
    with transaction.atomic():
        deleted, _ = Change.objects.filter(deleted=True, stamp__lte=horizon).delete()
        StampRound.objects.filter(stamp__lt=horizon).delete()
        SyncClock.objects.filter(pk=clock().pk, horizon__lt=horizon).update(horizon=horizon)
    return deleted


def rebuild_log(*, progress: bool = False) -> int:
    """Write the whole log again from the tables (after a bulk load, or to adopt sync
    on an existing database). Starts a new epoch: every phone's cursor resets."""
    written = 0
    with transaction.atomic():
        Change.objects.all().delete()
        state = clock()
        SyncClock.objects.filter(pk=state.pk).update(epoch=secrets.token_hex(4), horizon=0)
        for kind in KINDS.values():
            total = kind.model.objects.count()
            bar = tqdm(total=total, desc=f"sync log {kind.name}", disable=not progress, mininterval=0.5)
            batch = []
            for row in kind.model.objects.order_by("pk").values(*kind.bucket_fields).iterator(chunk_size=CHUNK):
                batch.append(row)
                if len(batch) == CHUNK:
                    track(kind, batch, created=True)
                    bar.update(len(batch))
                    written += len(batch)
                    batch = []
            track(kind, batch, created=True)
            written += len(batch)
            bar.update(len(batch))
            bar.close()
    stamp_changes()
    return written
