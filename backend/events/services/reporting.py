"""受理: a report made into an event (checked, numbered, saved), one or a batch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.actor import Actor
from backend.accounts.models import Role
from backend.core.errors import ApiError
from backend.events.history import build_action
from backend.events.models import (
    Category,
    Event,
    EventAction,
    Level,
    Source,
    State,
)
from backend.events.services.numbering import next_event_numbers
from backend.events.services.photos import Photos, _add_photos, photos_resolve, require_evidence
from backend.fastpath.bulk import make, present
from backend.fastpath.statements import Select
from backend.territory.coords import to_wgs84
from backend.territory.geometry import grid_index
from backend.territory.models import Community, Grid

# Which sources each role may report; system sources (video, electricity,
# referrals) come in through the command room's or an integration's account.
SOURCES_BY_ROLE = {
    Role.GRID_WORKER: {Source.GRID_PATROL},
    Role.RESIDENT: {Source.PUBLIC_TIP},
    Role.DISPATCHER: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
    Role.COMMANDER: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
    Role.ADMIN: {Source.VIDEO_ALERT, Source.POWER_ALERT, Source.DEPARTMENT_REFERRAL},
}


@dataclass
class PreparedReport:
    """A report checked and built, not yet numbered or saved."""

    event: Event
    actor: Actor
    role: str
    note: str
    data: dict


# A report's look-ups, written once (each batch and each REST report makes them).
# The polygon is not read: a report locates itself through the grid index.
REPORTABLE_CATEGORY = Select(Category, where="{0}.code = %s AND {0}.active = %s AND {0}.parent_id IS NOT NULL")
GRID_WITH_COMMUNITY = Select(
    Grid, Community, joins=["{1}.id = {0}.community_id"], where="{0}.id = %s", defer=["polygon"]
)


@dataclass
class Lookups:
    """Categories and grids already read: a batch of reports reads each once."""

    categories: dict[str, Category | None] = field(default_factory=dict)
    grids: dict[int, Grid | None] = field(default_factory=dict)
    located: dict[tuple[float, float], int | None] = field(default_factory=dict)
    index: object | None = None

    def _grid_index(self):
        if self.index is None:
            self.index = grid_index()  # checks the shared index version once per batch, not per point
        return self.index

    def prelocate(self, points: list[tuple[float, float, str]]) -> None:
        """Find the grids of a batch's (lat, lng, crs) points in one query; ``locate``
        then answers from here."""
        converted = (to_wgs84(lat=lat, lng=lng, crs=crs) for lat, lng, crs in points)
        wanted = list({(lng, lat) for lat, lng in converted} - self.located.keys())
        self.located.update(zip(wanted, self._grid_index().locate_many(wanted)))

    def locate(self, lng: float, lat: float) -> int | None:
        if (lng, lat) in self.located:
            return self.located[(lng, lat)]
        return self._grid_index().locate(lng, lat)

    def category(self, code: str) -> Category | None:
        if code not in self.categories:
            found = REPORTABLE_CATEGORY.one([code, True])
            self.categories[code] = found and found[0]
        return self.categories[code]

    def grid(self, grid_id: int) -> Grid | None:
        if grid_id not in self.grids:
            found = GRID_WITH_COMMUNITY.one([grid_id])
            self.grids[grid_id] = found and found[0]
        return self.grids[grid_id]


def prepare_report(
    *,
    actor: Actor,
    source: str,
    category_code: str,
    description: str,
    lat: float | None = None,
    lng: float | None = None,
    crs: str = "wgs84",
    address_text: str = "",
    grid_id: int | None = None,
    severity: str | None = None,
    event_id: uuid.UUID | None = None,
    photos: Photos | None = None,
    handled_on_spot: bool = False,
    result_note: str = "",
    contact_allowed: bool = False,
    lookups: Lookups | None = None,
    now: datetime | None = None,
) -> PreparedReport:
    """Every check of a report, and the event it makes (no number yet, not saved)."""
    user = actor.user
    scope = actor.scope
    lookups = lookups or Lookups()
    allowed_sources = set().union(*(SOURCES_BY_ROLE.get(role, set()) for role in scope.roles))
    if source not in allowed_sources:
        raise ApiError("source_not_allowed", detail={"allowed": sorted(allowed_sources)})
    category = lookups.category(category_code)
    if category is None:
        raise ApiError("unknown_category", detail={"category": category_code})

    if lat is not None and lng is not None:
        lat, lng = to_wgs84(lat=lat, lng=lng, crs=crs)
    elif lat is not None or lng is not None:
        raise ApiError("validation_error", detail={"location": "lat and lng go together"})
    if grid_id is None:
        if lat is None:
            raise ApiError("location_required")
        grid_id = lookups.locate(lng, lat)
        if grid_id is None:
            raise ApiError("location_outside_district", detail={"lat": lat, "lng": lng})
    grid = lookups.grid(grid_id)
    if grid is None:
        raise ApiError("validation_error", detail={"grid_id": "unknown grid"})
    if grid.retired_at is not None and lat is not None:
        # A phone that has not pulled a split yet names the old grid: its point says
        # which new grid the report belongs to (docs/administration.md).
        relocated = lookups.locate(lng, lat)
        if relocated is not None and relocated != grid.pk:
            grid = lookups.grid(relocated)

    photos = photos_resolve(photos=photos or Photos(), user=user)
    now = now or timezone.now()
    event = make(
        Event,
        id=event_id or uuid.uuid4(),
        number="",
        source=source,
        category=category,
        description=description,
        lat=lat,
        lng=lng,
        address_text=address_text,
        grid=grid,
        community_id=grid.community_id,
        street_id=grid.community.street_id,
        severity=severity or category.severity,
        reporter=user,
        contact_allowed=contact_allowed,
        state=State.REPORTED,
        level=Level.STREET,
        reported_at=now,
        device_reported_at=actor.device_at,
    )
    _add_photos(event, photos)
    role = next(
        (r for r in (Role.GRID_WORKER, Role.RESIDENT, Role.DISPATCHER, Role.COMMANDER, Role.ADMIN) if r in scope.roles),
        "",
    )
    if handled_on_spot:
        if Role.GRID_WORKER not in scope.roles or grid.pk not in scope.grid_ids:
            raise ApiError("step_forbidden", detail={"handled_on_spot": "only the grid worker of this grid"})
        if not category.grid_admissible:
            raise ApiError("not_on_admission_list", detail={"category": category.code})
        if not result_note.strip():
            raise ApiError("reason_required", detail={"result_note": "required when handled on the spot"})
        # Claimed photos that have not arrived yet: the report waits for them (待补证据)
        # instead of going to the secretary with nothing to compare.
        complete = require_evidence(event, claimer=user, new=True, wait=True)
        event.state = State.HANDLED if complete else State.AWAITING_EVIDENCE
        event.level = Level.GRID
        event.holder_user = user
        event.signed_by = user
        event.handled_on_spot = True
        event.result_note = result_note
        event.signed_at = event.handled_at = now
    return PreparedReport(
        event=event,
        actor=actor,
        role=role,
        note=result_note if handled_on_spot else "",
        data={
            "source": source,
            "category": category.code,
            "photos": {"before": photos.before, "after": photos.after},
            "handled_on_spot": handled_on_spot,
        },
    )


def event_report(*, actor: Actor, **fields) -> tuple[Event, bool]:
    """受理入口: a grid worker's patrol report, a resident's tip, or a system alert.
    Returns (event, created). A batch of one through ``event_report_batch``, so a
    report made over REST and one pushed by a phone are the same rows. Fields: those
    of ``prepare_report``."""
    try:
        with transaction.atomic():
            outcome = event_report_batch(reports=[(actor, fields)])[0]
    except IntegrityError:  # the same id saved by a concurrent request meanwhile
        raise ApiError("event_id_taken") from None
    if isinstance(outcome, ApiError):
        raise outcome
    event, created = outcome
    if not created:  # the batch read only what a phone's answer needs
        event = Event.objects.select_related("category", "grid").get(pk=event.pk)
    return event, created


ReportOutcome = tuple[Event, bool] | ApiError


def event_report_batch(*, reports: list[tuple[Actor, dict]]) -> list[ReportOutcome]:
    """Reports by one user (a REST report, or a phone's run of ``event.report``
    mutations), each checked on its own: one outcome per report, in order, either
    (event, created) or the error that refused it. The same client id from the same
    reporter answers the event already made (phones retry), also twice in one batch;
    another reporter's id answers ``event_id_taken``. 小事不出网格: a grid worker may
    report an admission-list matter already handled on the spot; it goes straight to
    approval. Runs in the caller's transaction; the change log is written once per
    event (``event_report_many``)."""
    wanted = [fields["event_id"] for _, fields in reports if fields.get("event_id") is not None]
    taken = present(Event, "id", wanted) if wanted else set()
    existing = (
        {
            e.pk: e
            for e in Event.objects.filter(pk__in=taken).only("id", "number", "state", "reporter_id", "action_count")
        }
        if taken
        else {}
    )
    lookups = Lookups()
    lookups.prelocate(
        [
            (fields["lat"], fields["lng"], fields.get("crs", "wgs84"))
            for _, fields in reports
            if fields.get("grid_id") is None and fields.get("lat") is not None and fields.get("lng") is not None
        ]
    )
    outcomes: list[ReportOutcome | None] = []
    made: dict[uuid.UUID, PreparedReport] = {}
    for actor, fields in reports:
        event_id = fields.get("event_id")
        if event_id in made:
            outcomes.append((made[event_id].event, False))  # sent twice in one batch: the second finds the first
        elif event_id in existing:
            event = existing[event_id]
            outcomes.append((event, False) if event.reporter_id == actor.user.pk else ApiError("event_id_taken"))
        else:
            try:
                prepared = prepare_report(actor=actor, lookups=lookups, **fields)
            except ApiError as error:
                outcomes.append(error)
            else:
                made[prepared.event.pk] = prepared
                outcomes.append(None)
    events = event_report_many(list(made.values()))
    created = iter(events)
    return [outcome if outcome is not None else (next(created), True) for outcome in outcomes]


def _photo_claims(reports: list[PreparedReport], events: list[Event]) -> dict:
    """The photos the reports reference, by the user who claims them."""
    by_user: dict = {}
    for prepared, event in zip(reports, events):
        if event.photos.get("before") or event.photos.get("after"):
            by_user.setdefault(prepared.actor.user, []).append((event, event.photos))
    return by_user


def claim_photos_many(
    reports: list[PreparedReport], events: list[Event], uploaded: dict | None = None, claims: dict | None = None
) -> None:
    """The photos the reports reference: attached when they have arrived, expected
    otherwise (their upload attaches them). Both report paths end here. ``uploaded``:
    per user, the digests ``media.services.photos_uploaded`` found (asked already);
    ``claims``: ``_photo_claims`` of these reports, made already."""
    from media.services import photos_expect_many

    if claims is None:
        claims = _photo_claims(reports, events)
    for user, references in claims.items():
        photos_expect_many(
            user=user, references=references, new_events=True, uploaded=None if uploaded is None else uploaded[user]
        )


def event_report_many(reports: list[PreparedReport]) -> list[Event]:
    """Save prepared reports at once (``event_report_batch``'s write): numbers in one
    counter update, events, their first history rows and sync log rows in bulk inserts.
    The caller has checked that none of the ids exists.

    Event numbers are gap-free per year, so the year's counter row stays locked from
    numbering until commit and every report in the district waits for it: everything
    that needs no number is written first. That is the history rows (foreign keys are
    checked at commit, so they may precede their events), and, unless a claimed photo
    has already arrived (it attaches to the saved event and may move it on, so the log
    waits for its final state), the expected photos and the change-log rows with the
    KPIs' dirty marks (``changes_collected`` writes them when it ends, or hands them to
    an enclosing one)."""
    if not reports:
        return []
    from backend.fastpath.bulk import insert_new
    from media.services import photos_uploaded
    from push.services import broadcast_event_changes
    from sync.changes import changed, changes_collected

    actions = []
    for prepared in reports:
        event, actor = prepared.event, prepared.actor
        actions.append(
            build_action(
                event,
                action="report",
                actor=actor.user,
                actor_role=prepared.role,
                device=actor.device,
                device_ref=actor.device.device_id if actor.device else "",
                from_state="",
                to_state=event.state,
                note=prepared.note,
                data=prepared.data,
                server_at=event.reported_at,
                device_at=actor.device_at,
            )
        )
        event.updated_at = event.reported_at
    events = [prepared.event for prepared in reports]
    insert_new(EventAction, actions)
    claims = _photo_claims(reports, events)
    uploaded = {user: photos_uploaded(user=user, references=references) for user, references in claims.items()}
    attaching = any(uploaded.values())
    with changes_collected():
        changed(events, created=True)
        if attaching:
            _number_and_insert(reports, events)
        claim_photos_many(reports, events, uploaded, claims)
    if not attaching:
        _number_and_insert(reports, events)
    broadcast_event_changes(events)
    return events


def _number_and_insert(reports: list[PreparedReport], events: list[Event]) -> None:
    """Number the events (the year's counter row locked until commit) and insert them."""
    from backend.fastpath.bulk import insert_instances

    by_year: dict[int, list[PreparedReport]] = {}
    years: dict[datetime, int] = {}  # a batch's reports share few instants: localtime once each
    for prepared in reports:
        at = prepared.event.reported_at
        year = years.get(at)
        if year is None:
            year = years[at] = timezone.localtime(at).year
        by_year.setdefault(year, []).append(prepared)
    for year, group in by_year.items():
        for prepared, number in zip(group, next_event_numbers(year, len(group))):
            prepared.event.number = number
    insert_instances(Event, events)
    for event in events:  # saved now, as bulk_create would mark them: a later save() updates
        event._state.adding = False
        event._state.db = "default"
