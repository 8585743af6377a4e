"""The drill's verdicts. The comparisons are plain functions of what the load sent and
what the server holds (unit-tested in ``backend/ops/tests/test_faults.py`` with planted
losses and duplicates); the readers below them fetch the server's side from the database."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Verdict:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_verdict(sent: dict[str, Iterable[int]], ledger: dict[str, Iterable[int]]) -> Verdict:
    """Every mutation a phone sent has exactly one ledger row (answered once, applied at
    most once): a sent id without a row is lost, an id with two rows was applied twice,
    a row no phone sent is foreign. Keys are device ids."""
    verdict = Verdict("mutations: none lost, none applied twice")
    for device, ids in sent.items():
        rows = Counter(ledger.get(device, ()))
        sent_ids = set(ids)
        for mutation_id in sorted(sent_ids - set(rows)):
            verdict.problems.append(f"{device}: mutation {mutation_id} lost (no ledger row)")
        for mutation_id, count in sorted(rows.items()):
            if count > 1:
                verdict.problems.append(f"{device}: mutation {mutation_id} applied {count} times")
            if mutation_id not in sent_ids:
                verdict.problems.append(f"{device}: mutation {mutation_id} in the ledger, never sent")
    return verdict


def once_verdict(name: str, sent: Iterable[str], counts: dict[str, int]) -> Verdict:
    """Each thing sent (a report, a note, a photo) is on the server exactly once."""
    verdict = Verdict(name)
    for key in sent:
        count = counts.get(key, 0)
        if count != 1:
            verdict.problems.append(f"{key}: {'lost' if count == 0 else f'kept {count} times'}")
    return verdict


def convergence_verdict(stores: dict[str, dict], server: dict[str, dict]) -> Verdict:
    """Every phone's store equals the server's tables for its scope (keys: phone names;
    values: ``{(kind, id): row}``)."""
    verdict = Verdict("phones converged")
    for name, store in stores.items():
        expected = server[name]
        missing = expected.keys() - store.keys()
        extra = store.keys() - expected.keys()
        stale = [key for key in store.keys() & expected.keys() if store[key] != expected[key]]
        if missing or extra or stale:
            verdict.problems.append(
                f"{name}: {len(missing)} missing, {len(extra)} extra, {len(stale)} stale"
                f" (e.g. {sorted(missing or extra or stale)[0]})"
            )
    return verdict


def notification_verdict(received: dict[str, set[int]], held: dict[str, set[int]], duplicates: int) -> Verdict:
    """After the last replay every account's sockets have had every notification the
    server holds for it; and no connection sent one seq twice (docs/realtime.md)."""
    verdict = Verdict("notifications: none missing after replay")
    for user, seqs in held.items():
        missing = sorted(seqs - received.get(user, set()))
        if missing:
            verdict.problems.append(f"{user}: {len(missing)} missing (seq {missing[:5]})")
    if duplicates:
        verdict.problems.append(f"{duplicates} notifications sent twice on one connection")
    return verdict


def supervision_verdict(unmarked: int, marked: int, expected: int) -> Verdict:
    """Every event whose deadline passed is marked overdue (the job caught up), and the
    drill made it work (events dispatched with deadlines that passed)."""
    verdict = Verdict("supervision caught up")
    if unmarked:
        verdict.problems.append(f"{unmarked} events past their deadline not marked overdue")
    if expected == 0:
        verdict.problems.append("no event was dispatched: the job had nothing to catch up on")
    elif marked < expected:
        verdict.problems.append(f"{expected - marked} of {expected} dispatched events never marked overdue")
    return verdict


# -- the server's side (Django set up) -------------------------------------------------


def ledger_rows(device_ids: Iterable[str]) -> dict[str, list[int]]:
    from sync.models import LedgerEntry

    rows: dict[str, list[int]] = {}
    for device, mutation_id in LedgerEntry.objects.filter(device__device_id__in=list(device_ids)).values_list(
        "device__device_id", "mutation_id"
    ):
        rows.setdefault(device, []).append(mutation_id)
    return rows


def report_counts(event_ids: Iterable[str]) -> dict[str, int]:
    from django.db.models import Count

    from backend.events.models import EventAction

    rows = (
        EventAction.objects.filter(event_id__in=list(event_ids), action="report")
        .values("event_id")
        .annotate(n=Count("id"))
    )
    return {str(row["event_id"]): row["n"] for row in rows}


def note_counts(notes: Iterable[str], device_ids: Iterable[str]) -> dict[str, int]:
    """A note is kept on the event's history, or (a step no longer allowed, by someone
    who may not comment) in its ledger row (docs/sync.md)."""
    from django.db.models import Count

    from backend.events.models import EventAction
    from sync.models import LedgerEntry

    notes = list(notes)
    counts = Counter(
        {
            row["note"]: row["n"]
            for row in EventAction.objects.filter(note__in=notes).values("note").annotate(n=Count("id"))
        }
    )
    for args in LedgerEntry.objects.filter(device__device_id__in=list(device_ids), result__kept="ledger").values_list(
        "args", flat=True
    ):
        if args.get("note") in notes:
            counts[args["note"]] += 1
    return dict(counts)


def edit_counts(edits: Iterable[tuple[str, str]]) -> dict[str, int]:
    """An edit is applied (in an ``edit`` history row), kept as a conflict, or kept as a
    comment: once, one way or another. Keys: the edited value."""
    from backend.events.models import EventAction
    from sync.models import Conflict

    counts: dict[str, int] = {}
    for event_id, value in edits:
        applied = sum(
            1
            for data in EventAction.objects.filter(event_id=event_id, action="edit").values_list("data", flat=True)
            if (data.get("fields", {}).get("description") or [None, None])[1] == value
        )
        conflicts = Conflict.objects.filter(event_id=event_id, field="description", phone_value=value).count()
        comments = EventAction.objects.filter(event_id=event_id, action="comment", note__contains=value).count()
        counts[value] = applied + conflicts + comments
    return counts


def photo_counts(photos: dict[str, str]) -> dict[str, int]:
    """Photos by the client's id with the digest it sent."""
    from media.models import Photo

    found = Counter()
    for photo_id, digest in Photo.objects.filter(pk__in=list(photos)).values_list("pk", "sha256"):
        if photos.get(str(photo_id)) == digest:
            found[str(photo_id)] += 1
    return dict(found)


def scope_state(username: str) -> dict[tuple[str, str], dict]:
    """What the user's scope holds now, read straight from the tables (not from the
    change log), in the shape a pull sends (as ``sync/tests/phones.server_state``)."""
    from backend.accounts.models import User
    from backend.accounts.scope import scope_of
    from backend.fastpath.canonical import canonical_bytes
    from backend.fastpath.rows import read_rows
    from sync.entities import KINDS

    scope = scope_of(User.objects.get(username=username))
    state = {}
    for kind in KINDS.values():
        for row in read_rows(kind, kind.model.objects.filter(kind.visible(scope))):
            state[(kind.name, str(row["id"]))] = json.loads(canonical_bytes(row))
    return state


def notification_seqs(usernames: Iterable[str], after: dict[str, int]) -> dict[str, set[int]]:
    """The notifications each account holds, after what it held when the drill began."""
    from push.models import Notification

    held: dict[str, set[int]] = {name: set() for name in usernames}
    for username, seq in Notification.objects.filter(user__username__in=list(held)).values_list(
        "user__username", "seq"
    ):
        if seq > after.get(username, 0):
            held[username].add(seq)
    return held


def supervision_counts(event_ids: Iterable[str], *, slack_s: float) -> tuple[int, int]:
    """(events past their deadline by more than ``slack_s`` and not marked overdue,
    anywhere; of the drill's dispatched events, how many were marked overdue)."""
    from datetime import timedelta

    from django.utils import timezone

    from backend.events.models import Event
    from backend.events.supervision import SUPERVISED_STATES

    unmarked = Event.objects.filter(
        state__in=SUPERVISED_STATES, overdue=False, deadline_at__lt=timezone.now() - timedelta(seconds=slack_s)
    ).count()
    marked = Event.objects.filter(pk__in=list(event_ids), overdue_at__isnull=False).count()
    return unmarked, marked
