"""A realistic year of events for the demo district (``seed_demo --events N``).

Shaped like the seed's 2020: sources in its proportions (41,293 of 175,591 were
public tips: 23.5%), 99.7% closed, some overdue, returned and reworked, small
matters fixed on the spot by grid workers. Every event gets its full hash-chained
history, and its photos as arrived evidence (real files from a small pool,
``demo_photos.py``). Written with bulk inserts in batches: memory is bounded by the batch.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from backend.accounts.models import Role, RoleAssignment, User
from backend.core.times import wire_time
from backend.events.deadlines import compute_deadline
from backend.events.demo_photos import PoolPhoto, photo_pool
from backend.events.history import HASHED_FIELDS, content_hash
from backend.events.models import (
    Category,
    Event,
    EventAction,
    EventCounter,
    HandlerKind,
    Level,
    Satisfaction,
    Source,
    State,
)
from backend.events.services import NUMBER_PREFIX
from backend.fastpath.bulk import insert_instances, insert_rows
from backend.territory.demo import cell_centre
from backend.territory.models import Community, Department, Grid, Platform, Street
from media.models import Photo
from sync.changes import track_instances

SOURCE_WEIGHTS = [
    (Source.GRID_PATROL, 0.605),
    (Source.PUBLIC_TIP, 0.235),
    (Source.VIDEO_ALERT, 0.09),
    (Source.POWER_ALERT, 0.02),
    (Source.DEPARTMENT_REFERRAL, 0.05),
]
OPEN_SHARE = 0.003
RETURN_SHARE = 0.04
REWORK_SHARE = 0.03
LATE_SHARE = 0.06
ON_THE_SPOT_SHARE = 0.45  # of admissible patrol reports
BATCH = 2000
RESIDENTS = 2000
SEED_PASSWORD = make_password(None)
# unusable: seeded staff cannot log in


@dataclass
class Cast:
    """Who acts in the generated histories: one account per unit."""

    grid_worker: dict[int, int]
    secretary: dict[int, int]
    dispatcher: dict[int, int]
    handler_platform: dict[int, int]
    handler_department: dict[int, int]
    residents: list[int]


def _ensure_cast() -> Cast:
    existing = {
        a.role + ":" + str(a.unit().pk): a.user_id
        for a in RoleAssignment.objects.select_related("grid", "community", "street", "platform", "department").exclude(
            role__in=[Role.RESIDENT, Role.ADMIN, Role.COMMANDER]
        )
    }
    units = [
        (Role.GRID_WORKER, "grid", Grid.objects.all(), "gw"),
        (Role.SECRETARY, "community", Community.objects.all(), "sec"),
        (Role.DISPATCHER, "street", Street.objects.all(), "disp"),
        (Role.HANDLER, "platform", Platform.objects.all(), "plat"),
        (Role.HANDLER, "department", Department.objects.all(), "dept"),
    ]
    new_users, new_roles = [], []
    for role, field, queryset, prefix in units:
        for unit in queryset:
            if f"{role}:{unit.pk}" in existing:
                continue
            user = User(
                username=f"seed_{prefix}_{unit.pk}", password=SEED_PASSWORD, display_name=f"{unit}{Role(role).label}"
            )
            new_users.append(user)
            new_roles.append((user, role, field, unit))
    User.objects.bulk_create(new_users, ignore_conflicts=True)
    by_name = dict(User.objects.filter(username__in=[u.username for u in new_users]).values_list("username", "pk"))
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(user_id=by_name[user.username], role=role, **{field: unit})
            for user, role, field, unit in new_roles
        ],
        ignore_conflicts=True,
    )
    residents = list(User.objects.filter(username__startswith="seed_resident_").values_list("pk", flat=True))
    if len(residents) < RESIDENTS:
        User.objects.bulk_create(
            [User(username=f"seed_resident_{i:05d}", password=SEED_PASSWORD) for i in range(len(residents), RESIDENTS)],
            ignore_conflicts=True,
        )
        new = User.objects.filter(username__startswith="seed_resident_").exclude(pk__in=residents)
        RoleAssignment.objects.bulk_create([RoleAssignment(user=u, role=Role.RESIDENT) for u in new])
        residents = list(User.objects.filter(username__startswith="seed_resident_").values_list("pk", flat=True))

    cast = Cast({}, {}, {}, {}, {}, residents)
    table = {
        "grid": cast.grid_worker,
        "community": cast.secretary,
        "street": cast.dispatcher,
        "platform": cast.handler_platform,
        "department": cast.handler_department,
    }
    # The demo personas take their own units' work (ordering puts them first).
    for assignment in RoleAssignment.objects.exclude(role__in=[Role.RESIDENT, Role.ADMIN, Role.COMMANDER]).order_by(
        "-user__username"
    ):
        for field, mapping in table.items():
            unit_id = getattr(assignment, f"{field}_id")
            if unit_id is not None:
                mapping[unit_id] = assignment.user_id
    return cast


class Generator:
    def __init__(
        self,
        *,
        rng: random.Random,
        now: datetime,
        cast: Cast,
        commander_id: int | None,
        pool: dict[str, list[PoolPhoto]],
    ):
        self.rng = rng
        self.pool = pool
        self.now = now
        self.cast = cast
        self.commander_id = commander_id
        self.categories = list(Category.objects.filter(parent__isnull=False, active=True))
        self.grids = list(Grid.objects.select_related("community").order_by("code"))
        self.platforms = {(p.street_id, p.kind): p.pk for p in Platform.objects.all()}
        self.departments = dict(Department.objects.values_list("code", "pk"))
        self.counters: dict[int, int] = {}

    def number(self, moment: datetime) -> str:
        year = timezone.localtime(moment).year
        if year not in self.counters:
            counter, _ = EventCounter.objects.get_or_create(year=year)
            self.counters[year] = counter.last
        self.counters[year] += 1
        return f"{NUMBER_PREFIX}{year}{self.counters[year]:07d}"

    def save_counters(self) -> None:
        for year, last in self.counters.items():
            EventCounter.objects.filter(year=year).update(last=last)

    def event(self, reported_at: datetime) -> tuple[Event, list[dict]]:
        rng = self.rng
        source = rng.choices([s for s, _ in SOURCE_WEIGHTS], [w for _, w in SOURCE_WEIGHTS])[0]
        category = rng.choice(self.categories)
        grid_index = rng.randrange(len(self.grids))
        grid = self.grids[grid_index]
        lng, lat = cell_centre(grid_index)
        worker = self.cast.grid_worker.get(grid.pk)
        reporter = {Source.GRID_PATROL: worker, Source.PUBLIC_TIP: rng.choice(self.cast.residents)}.get(
            source, self.cast.dispatcher.get(grid.community.street_id)
        )
        event = Event(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            number=self.number(reported_at),
            source=source,
            category=category,
            description=f"{category.name}：{grid.name}附近",
            lat=lat + rng.uniform(-0.001, 0.001),
            lng=lng + rng.uniform(-0.0015, 0.0015),
            address_text=f"{grid.community.name}{rng.randint(1, 120)}号",
            grid=grid,
            community_id=grid.community_id,
            street_id=grid.community.street_id,
            severity=category.severity,
            reporter_id=reporter,
            state=State.REPORTED,
            level=Level.STREET,
            reported_at=reported_at,
            device_reported_at=reported_at - timedelta(seconds=rng.randint(0, 600)),
            photos={"before": [], "after": []},
        )
        event.updated_at = self.now
        history = _History(event, self)
        on_the_spot = source == Source.GRID_PATROL and category.grid_admissible and rng.random() < ON_THE_SPOT_SHARE
        stop_at = (
            rng.choice(["reported", "accepted", "dispatched", "in_progress", "handled", "returned"])
            if rng.random() < OPEN_SHARE
            else None
        )
        if on_the_spot:
            history.on_the_spot(worker)
            if stop_at is None:
                history.approve()
        else:
            history.report()
            history.full_loop(stop_at)
        return event, history.rows, history.photo_rows


class _History:
    """Builds one event's steps in time order, with their hash chain."""

    def __init__(self, event: Event, generator: Generator):
        self.event = event
        self.g = generator
        self.rng = generator.rng
        self.clock = event.reported_at
        self.rows: list[dict] = []
        self.photo_rows: list[tuple] = []

    def take_photos(self, phase: str, count: int, uploader: int | None, role: str) -> None:
        """``count`` more photos of ``phase`` from the pool, arrived now: referenced by
        their real digest, attached as ``Photo`` rows (evidence counts arrived photos),
        each with its custody row in the history, as ``photo_attach`` writes it."""
        e = self.event
        taken = e.photos[phase]
        fresh = [p for p in self.g.pool[phase] if p.reference not in taken]
        uploader = uploader or e.reporter_id or self.g.cast.residents[0]
        for photo in self.rng.sample(fresh, count):
            taken.append(photo.reference)
            photo_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            self.add(
                "photo",
                uploader,
                role,
                e.state,
                note=f"{phase} photo",
                data={
                    "sha256": photo.digest,
                    "phase": phase,
                    "photo_id": str(photo_id),
                    "size_bytes": photo.size_bytes,
                    "flags": [],
                },
            )
            self.photo_rows.append(
                (
                    photo_id,
                    e.id,
                    phase,
                    photo.digest,
                    uploader,
                    None,
                    photo.format,
                    photo.size_bytes,
                    photo.width,
                    photo.height,
                    1,
                    None,
                    "",
                    None,
                    None,
                    None,
                    "",
                    "",
                    e.lat,
                    e.lng,
                    self.clock,
                    [],
                    *photo.keys,
                )
            )

    def report(self) -> None:
        role = (
            Role.RESIDENT
            if self.event.source == Source.PUBLIC_TIP
            else Role.GRID_WORKER
            if self.event.source == Source.GRID_PATROL
            else Role.DISPATCHER
        )
        self.add(
            "report",
            self.event.reporter_id,
            role,
            "",
            data={"source": self.event.source, "category": self.event.category.code},
        )
        self.take_photos("before", self.event.category.before_photos_required, self.event.reporter_id, role)

    def later(self, low_minutes: float, high_minutes: float) -> datetime:
        self.clock = min(self.clock + timedelta(minutes=self.rng.uniform(low_minutes, high_minutes)), self.g.now)
        return self.clock

    def add(
        self,
        action: str,
        actor_id: int | None,
        role: str,
        from_state: str,
        *,
        note: str = "",
        data: dict | None = None,
        at: datetime | None = None,
    ) -> None:
        event = self.event
        values = {
            "event_id": event.id,
            "seq": event.action_count + 1,
            "action": action,
            "actor_id": actor_id,
            "actor_role": role,
            "device_ref": "seed" if actor_id else "",
            "from_state": from_state,
            "to_state": event.state,
            "note": note,
            "data": data or {},
            "server_at": at or self.clock,
            "device_at": None,
            "prev_hash": event.last_action_hash,
        }
        values["hash"] = content_hash(values)
        event.action_count, event.last_action_hash = values["seq"], values["hash"]
        self.rows.append(values)

    def move(self, action: str, to_state: str, actor_id: int | None, role: str, **extra) -> None:
        from_state = self.event.state
        self.event.state = to_state
        self.add(action, actor_id, role, from_state, **extra)

    def on_the_spot(self, worker: int | None) -> None:
        e = self.event
        e.state, e.level, e.handled_on_spot = State.HANDLED, Level.GRID, True
        e.holder_user_id = e.signed_by_id = worker
        e.signed_at = e.handled_at = e.reported_at
        e.result_note = "现场处置完毕"
        self.add("report", e.reporter_id, Role.GRID_WORKER, "", note=e.result_note, data={"handled_on_spot": True})
        self.take_photos("before", e.category.before_photos_required, worker, Role.GRID_WORKER)
        self.take_photos("after", e.category.after_photos_required, worker, Role.GRID_WORKER)

    def dispatch(self, dispatcher: int | None) -> None:
        e, category = self.event, self.event.category
        handler_kind = category.default_handler
        if handler_kind == HandlerKind.GRID and category.grid_admissible and self.g.cast.grid_worker.get(e.grid_id):
            e.holder_user_id, e.level = self.g.cast.grid_worker[e.grid_id], Level.GRID
        elif handler_kind == HandlerKind.DEPARTMENT and category.default_department_code in self.g.departments:
            e.holder_department_id = self.g.departments[category.default_department_code]
        else:
            e.holder_platform_id = self.g.platforms[(e.street_id, category.platform_kind)]
        e.dispatched_at = self.later(5, 60)
        e.deadline_at = compute_deadline(e.dispatched_at, unit=category.deadline_unit, amount=category.deadline_amount)
        self.move(
            "dispatch", State.DISPATCHED, dispatcher, Role.DISPATCHER, data={"deadline_at": wire_time(e.deadline_at)}
        )

    def holder(self) -> int | None:
        e = self.event
        if e.holder_user_id:
            return e.holder_user_id
        if e.holder_platform_id:
            return self.g.cast.handler_platform.get(e.holder_platform_id)
        return self.g.cast.handler_department.get(e.holder_department_id)

    def release(self) -> None:
        e = self.event
        e.holder_user_id = e.holder_platform_id = e.holder_department_id = None
        e.deadline_at = None
        e.level = Level.STREET

    def full_loop(self, stop_at: str | None) -> None:
        e, rng = self.event, self.rng
        dispatcher = self.g.cast.dispatcher.get(e.street_id)
        if stop_at == "reported":
            return
        e.accepted_at = self.later(5, 120)
        self.move("accept", State.ACCEPTED, dispatcher, Role.DISPATCHER)
        if stop_at == "accepted":
            return
        self.dispatch(dispatcher)
        if stop_at == "returned" or rng.random() < RETURN_SHARE:
            self.later(10, 240)
            e.return_count += 1
            holder = self.holder()
            self.release()
            self.move("return", State.RETURNED, holder, Role.HANDLER, note="非本单位职责")
            if stop_at == "returned":
                return
            self.dispatch(dispatcher)
        if stop_at == "dispatched":
            self.late_check()
            return
        e.signed_at = self.later(10, 240)
        e.signed_by_id = self.holder()
        self.move("sign", State.IN_PROGRESS, e.signed_by_id, Role.HANDLER)
        if stop_at == "in_progress":
            self.late_check()
            return
        late = rng.random() < LATE_SHARE
        target = (
            e.deadline_at + timedelta(hours=rng.uniform(1, 30))
            if late
            else e.signed_at + (e.deadline_at - e.signed_at) * rng.uniform(0.1, 0.95)
        )
        if late:
            self.mark_overdue()
        self.clock = min(max(target, self.clock), self.g.now)
        self.handle()
        if rng.random() < REWORK_SHARE:
            self.later(60, 600)
            e.rework_count += 1
            self.move(
                "rework",
                State.IN_PROGRESS,
                self.g.cast.secretary.get(e.community_id),
                Role.SECRETARY,
                note="照片不清晰，请补充",
            )
            self.later(60, 600)
            self.handle()
        if stop_at == "handled":
            return
        self.approve()

    def mark_overdue(self) -> None:
        e = self.event
        e.overdue, e.overdue_at, e.urge_count = True, e.deadline_at, e.urge_count + 1
        self.add("overdue", None, "system", e.state, note="已超过处置时限", at=e.deadline_at)
        self.add("urge", None, "system", e.state, note="系统自动催办：事件已超期", at=e.deadline_at)

    def late_check(self) -> None:
        if self.event.deadline_at and self.event.deadline_at < self.g.now:
            self.mark_overdue()

    def handle(self) -> None:
        e = self.event
        e.handled_at = self.clock
        e.result_note = "已处置完毕"
        # The handler's photos arrive before the step that needs them (a rework asked for
        # better ones: new ones are added).
        self.take_photos("after", e.category.after_photos_required, self.holder(), Role.HANDLER)
        self.move("handle", State.HANDLED, self.holder(), Role.HANDLER, note=e.result_note)

    def approve(self) -> None:
        e, rng = self.event, self.rng
        e.closed_at = self.later(30, 1440)
        e.overdue = False
        self.move("approve", State.CLOSED, self.g.cast.secretary.get(e.community_id), Role.SECRETARY)
        if e.source == Source.PUBLIC_TIP and rng.random() < 0.85:
            e.evaluated_at = self.later(60, 4320)
            e.satisfaction = rng.choices(
                [Satisfaction.SATISFIED, Satisfaction.BASIC, Satisfaction.UNSATISFIED], [0.82, 0.15, 0.03]
            )[0]
            self.move("evaluate", State.EVALUATED, e.reporter_id, "", data={"satisfaction": e.satisfaction})


ACTION_COLUMNS = (*HASHED_FIELDS, "hash")
PHOTO_COLUMNS = (
    "id",
    "event_id",
    "phase",
    "sha256",
    "uploader_id",
    "device_id",
    "format",
    "size_bytes",
    "width",
    "height",
    "orientation",
    "captured_at",
    "capture_offset",
    "gps_lat",
    "gps_lng",
    "gps_accuracy_m",
    "camera_make",
    "camera_model",
    "reported_lat",
    "reported_lng",
    "received_at",
    "flags",
    "original_key",
    "thumb_key",
    "display_key",
)


def seed_events(total: int, *, seed: int = 2020, progress: bool = True) -> int:
    """Top the demo history up to ``total`` events over the past year. Returns how
    many were added (0 when there are already that many: idempotent)."""
    missing = total - Event.objects.count()
    if missing <= 0:
        return 0
    rng = random.Random(seed + missing)
    now = timezone.now()
    with transaction.atomic():
        cast = _ensure_cast()
    commander = RoleAssignment.objects.filter(role=Role.COMMANDER).values_list("user_id", flat=True).first()
    generator = Generator(rng=rng, now=now, cast=cast, commander_id=commander, pool=photo_pool())
    year_seconds = 365 * 24 * 3600
    moments = sorted(now - timedelta(seconds=rng.uniform(3600, year_seconds)) for _ in range(missing))
    bar = tqdm(total=missing, desc="events 事件", unit="ev", disable=not progress, mininterval=0.5)
    for start in range(0, missing, BATCH):
        events, actions, photos = [], [], []
        for moment in moments[start : start + BATCH]:
            event, rows, photo_rows = generator.event(moment)
            events.append(event)
            actions.extend(rows)
            photos.extend(photo_rows)
        with transaction.atomic():
            insert_instances(Event, events)
            track_instances(events, created=True)
            insert_rows(EventAction, ACTION_COLUMNS, ([row[name] for name in ACTION_COLUMNS] for row in actions))
            insert_rows(Photo, PHOTO_COLUMNS, photos)
            generator.save_counters()
        bar.update(len(events))
    bar.close()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE events_event; ANALYZE events_eventaction; ANALYZE {Photo._meta.db_table};")
    return missing
