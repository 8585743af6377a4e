"""Photo references on an event, the evidence they stand for, and the custody rows of
arrived photos.

A reference (``sha256:<hex>``, ``<hex>``, or the UUID of a photo already uploaded) is
a *claim*. A photo counts as evidence only once a file whose SHA-256 matches has
arrived and been accepted (``media.services.photo_intake``) and is attached to the
event. Every guard that requires photos counts arrived ones (``evidence_of``)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.core.errors import ApiError
from backend.events.models import Event, State
from backend.events.services.recording import _record, system_record

PHASES = ("before", "after")


@dataclass
class Photos:
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


PHOTO_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def photo_digest(reference: str) -> str | None:
    """The SHA-256 a photo reference names (``<hex>`` or ``sha256:<hex>``), else None."""
    match = PHOTO_DIGEST.match(reference or "")
    return match.group(1).lower() if match else None


def photos_resolve(*, photos: Photos, user) -> Photos:
    """References by a photo's UUID made into its digest: only a photo this user has
    uploaded already (a UUID says nothing about bytes that have not arrived, so it cannot
    be a claim on its own). Other references are left as they are."""
    from media.models import Photo

    ids = {}
    for ref in (*photos.before, *photos.after):
        if photo_digest(ref) is None:
            try:
                ids[ref] = uuid.UUID(str(ref))
            except ValueError:
                pass
    if not ids or user is None:
        return photos
    digests = dict(Photo.objects.filter(pk__in=set(ids.values()), uploader=user).values_list("pk", "sha256"))
    by_ref = {ref: digests[pk] for ref, pk in ids.items() if pk in digests}
    return Photos(
        before=[by_ref.get(ref, ref) for ref in photos.before], after=[by_ref.get(ref, ref) for ref in photos.after]
    )


def _add_photos(event: Event, photos: Photos) -> None:
    current = {"before": list(event.photos.get("before", [])), "after": list(event.photos.get("after", []))}
    for phase, refs in (("before", photos.before), ("after", photos.after)):
        for ref in refs:
            ref = photo_digest(ref) or ref  # "sha256:<hex>" and "<hex>" name one photo: count it once
            if ref not in current[phase]:
                current[phase].append(ref)
    event.photos = current


@dataclass(frozen=True)
class PhaseEvidence:
    required: int
    arrived: tuple[str, ...]  # digests of accepted photos on the event (or attached with this step)
    expected: tuple[str, ...]  # claimed digests whose file has not arrived

    @property
    def met(self) -> bool:
        return len(self.arrived) >= self.required

    @property
    def reachable(self) -> bool:
        return len(self.arrived) + len(self.expected) >= self.required


@dataclass(frozen=True)
class Evidence:
    before: PhaseEvidence
    after: PhaseEvidence

    @property
    def complete(self) -> bool:
        return self.before.met and self.after.met

    @property
    def reachable(self) -> bool:
        """Complete once the claimed photos arrive."""
        return self.before.reachable and self.after.reachable

    def detail(self) -> dict:
        return {
            phase: {"required": ev.required, "present": len(ev.arrived), "expected": len(ev.expected)}
            for phase, ev in (("before", self.before), ("after", self.after))
        }

    def expected(self) -> dict:
        return {"before": list(self.before.expected), "after": list(self.after.expected)}


def evidence_of(event: Event, *, claimer=None, new: bool = False) -> Evidence:
    """What the event's category requires, what has arrived and what is only claimed.

    ``claimer``: the user whose step is being saved; photos they uploaded before the
    event (``POST /photos``) and now claim count as arrived, since the same step attaches
    them (``media.services.photos_expect``), under the phase they are claimed for.
    ``new``: the event is not saved yet, so nothing is attached to it."""
    from media.models import Photo

    claims = {phase: [d for ref in event.photos.get(phase, []) if (d := photo_digest(ref))] for phase in PHASES}
    arrived: dict[str, str] = {}  # digest -> phase
    if not new:
        arrived.update(Photo.objects.filter(event_id=event.pk).values_list("sha256", "phase"))
    claimed = {d for listed in claims.values() for d in listed} - arrived.keys()
    if claimer is not None and claimed:
        loose = set(
            Photo.objects.filter(uploader=claimer, event__isnull=True, sha256__in=claimed).values_list(
                "sha256", flat=True
            )
        )
        for phase in PHASES:
            for digest in claims[phase]:
                if digest in loose:
                    arrived.setdefault(digest, phase)
    category = event.category
    required = {"before": category.before_photos_required, "after": category.after_photos_required}

    def phase_evidence(phase: str) -> PhaseEvidence:
        here = tuple(sorted(d for d, p in arrived.items() if p == phase))
        waiting = tuple(dict.fromkeys(d for d in claims[phase] if d not in arrived))
        return PhaseEvidence(required=required[phase], arrived=here, expected=waiting)

    return Evidence(before=phase_evidence("before"), after=phase_evidence("after"))


def require_evidence(event: Event, *, claimer=None, new: bool = False, wait: bool = False) -> bool:
    """The guard of every step that requires photos. True: the arrived photos meet the
    category's counts. False (only with ``wait``): they will once the claimed photos
    arrive, so the step may go to ``awaiting_evidence``. Otherwise ``photos_missing``,
    with what is present (arrived) and what is only expected, per phase."""
    category = event.category
    if not (category.before_photos_required or category.after_photos_required):
        return True  # nothing required: any photos meet it, so none is looked up
    evidence = evidence_of(event, claimer=claimer, new=new)
    if evidence.complete:
        return True
    if wait and evidence.reachable:
        return False
    raise ApiError("photos_missing", detail=evidence.detail())


def evidence_wait() -> timedelta:
    return timedelta(hours=settings.SUPERVISION["EVIDENCE_WAIT_HOURS"])


def evidence_settle(*, event: Event, now: datetime | None = None) -> Event:
    """An event waiting for its photos moves on by itself (to the approval queue) once
    the arrived ones meet its category's counts. Called whenever a photo is attached.
    ``event`` must be locked by the caller."""
    if event.state != State.AWAITING_EVIDENCE or not evidence_of(event).complete:
        return event
    event.state = State.HANDLED
    return system_record(
        event,
        action="evidence_arrived",
        now=now or timezone.now(),
        note="所缺照片已到达，转结案审核",
        from_state=State.AWAITING_EVIDENCE,
    )


def evidence_overdue(*, event: Event, now: datetime) -> Event:
    """The wait ran out: to the secretary's approval queue anyway, with the reason and
    the photos still expected in its history row (the approval guard still counts
    arrived photos: the secretary reworks it, or approves once they arrive)."""
    evidence = evidence_of(event)
    event.state = State.HANDLED
    hours = settings.SUPERVISION["EVIDENCE_WAIT_HOURS"]
    waited = round((now - event.handled_at).total_seconds() / 3600, 1) if event.handled_at else hours
    return system_record(
        event,
        action="evidence_overdue",
        now=now,
        note=f"照片超过 {hours} 小时未到达，转书记审核",
        from_state=State.AWAITING_EVIDENCE,
        data={
            "reason": "photos_not_arrived",
            "waited_hours": waited,  # since it was handled (the job may run late)
            "wait_limit_hours": hours,
            "expected": evidence.expected(),
            "evidence": evidence.detail(),
        },
    )


def record_photo(*, event: Event, actor: Actor, phase: str, digest: str, data: dict) -> Event:
    """Custody of a photo: who uploaded it, from which device, when, its digest, as a
    row of the event's hash chain; before/after photos count toward closure."""
    if phase in PHASES:
        _add_photos(event, Photos(**{phase: [digest]}))
    role = next(iter(sorted(actor.scope.roles)), "")
    return _record(
        event,
        action="photo",
        actor=actor,
        role=role,
        from_state=event.state,
        note=f"{phase} photo",
        data={"sha256": digest, "phase": phase, **data},
        fields=("photos",),
    )
