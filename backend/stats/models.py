"""What the KPIs, the assessment and the five-colour warnings are computed from and keep.

``EventFact`` is one row per event with what the figures need of it (docs/kpis.md);
``DirtyEvent`` is the queue of events whose facts the worker must recompute.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.events.models import Source

# The states in which an event no longer needs anyone (the colour rules count the others).
DONE_STATES = ("closed", "evaluated", "merged", "rejected")
OPEN = ~models.Q(state__in=DONE_STATES)
CLOSED = models.Q(closed_day__isnull=False)
COUNTED = models.Q(colour_counted=True)
TIPS = models.Q(source=Source.PUBLIC_TIP) & ~models.Q(tip_address="")
DURATION_COLUMNS = ("sign_s", "sign_ws", "handle_s", "handle_ws", "close_s", "close_ws")


class EventFact(models.Model):
    """What the KPIs read of one event; a pure function of the event and its history
    (``backend.stats.facts.fact_of``). No foreign-key constraints: facts are derived
    data, rebuilt from events, and must never hold an event write back."""

    event_id = models.UUIDField(primary_key=True)
    grid_id = models.BigIntegerField()
    community_id = models.BigIntegerField()
    street_id = models.BigIntegerField()
    platform_id = models.BigIntegerField(null=True)
    department_id = models.BigIntegerField(null=True)
    holder_user_id = models.BigIntegerField(null=True)
    reporter_id = models.BigIntegerField(null=True)
    category_id = models.BigIntegerField()
    parent_category_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=24)
    state = models.CharField(max_length=20)
    severity = models.CharField(max_length=16)
    reported_day = models.DateField()
    closed_day = models.DateField(null=True)
    due_day = models.DateField(null=True)
    on_time = models.BooleanField(default=False)
    dispatched = models.BooleanField(default=False)
    overdue_now = models.BooleanField(default=False)
    # Open and counted by a colour rule (``backend.stats.colours.open_rules``): the few open
    # events a unit's colour reads, through their own partial index.
    colour_counted = models.BooleanField(default=False)
    reworks = models.PositiveSmallIntegerField(default=0)
    returns = models.PositiveSmallIntegerField(default=0)
    extensions = models.PositiveSmallIntegerField(default=0)
    urges = models.PositiveSmallIntegerField(default=0)
    escalations = models.PositiveSmallIntegerField(default=0)
    satisfaction = models.CharField(max_length=16, blank=True)
    # A resident's tip's address, for the repeated-tips warning (empty for other sources).
    tip_address = models.CharField(max_length=200, blank=True)
    # Seconds, natural (``*_s``) and working (``*_ws``); null when not measurable.
    sign_s = models.IntegerField(null=True)
    handle_s = models.IntegerField(null=True)
    close_s = models.IntegerField(null=True)
    sign_ws = models.IntegerField(null=True)
    handle_ws = models.IntegerField(null=True)
    close_ws = models.IntegerField(null=True)

    class Meta:
        verbose_name = verbose_name_plural = "事件统计事实"
        indexes = [
            models.Index(fields=["reported_day", "street_id"], name="fact_reported"),
            # With the durations (and the grid and community of a breakdown): the p90s read
            # only this index (an index-only scan on PostgreSQL), not the wide rows.
            models.Index(
                fields=["closed_day", "street_id"],
                name="fact_closed_durations",
                include=["grid_id", "community_id", *DURATION_COLUMNS],
                condition=models.Q(closed_day__isnull=False),
            ),
            models.Index(fields=["due_day", "street_id"], name="fact_due", condition=models.Q(due_day__isnull=False)),
            models.Index(fields=["street_id"], name="fact_overdue", condition=models.Q(overdue_now=True)),
            # A grid's or a community's figures, and the colour rules' look-ups: its open
            # events (few: a partial index) and its closures (the satisfaction windows).
            models.Index(fields=["grid_id", "reported_day"], name="fact_grid"),
            models.Index(fields=["community_id", "reported_day"], name="fact_community"),
            models.Index(fields=["grid_id", "closed_day"], name="fact_grid_closed", condition=CLOSED),
            models.Index(fields=["community_id", "closed_day"], name="fact_community_closed", condition=CLOSED),
            models.Index(fields=["grid_id"], name="fact_grid_open", condition=OPEN),
            models.Index(fields=["community_id"], name="fact_community_open", condition=OPEN),
            # The colours' reads of a community (``colours.community_rows``): the open events a
            # rule counts, and the residents' tips with an address by day.
            models.Index(fields=["community_id"], name="fact_community_counted", condition=COUNTED),
            models.Index(fields=["community_id", "reported_day"], name="fact_community_tips", condition=TIPS),
        ]


class DirtyEvent(models.Model):
    """An event whose facts are stale: appended by the write path, drained by the worker."""

    event_id = models.UUIDField()


# The sums a day adds to every figure counted by day (``selectors.FAMILIES``: what the
# events reported, closed and due that day contribute). Durations are kept as sums and
# counts, so a period's mean is their quotient; the p90s are read from the facts.
ROLLUP_COLUMNS = (
    "new",
    *(f"src_{source}" for source in Source.values),
    "merged",
    "rejected",
    "closed_of_new",
    "dispatched",
    "reworked",
    "returned",
    "extended",
    "parked",
    "urges",
    "escalations",
    "closed",
    "evaluated",
    "satisfied",
    *(f"sum_{column}" for column in DURATION_COLUMNS),
    *(f"n_{column}" for column in DURATION_COLUMNS),
    "due",
    "due_closed",
    "due_on_time",
)


class DayRollup(models.Model):
    """A street's figures of one local day, summed from its facts (``backend.stats.rollups``):
    a district's year is 365 rows a street rather than every fact. The worker recomputes
    the days a changed fact touches (before and after); ``rebuild_stats`` all of them."""

    day = models.DateField()
    street_id = models.BigIntegerField()
    # Set anew, above every earlier one, each time the row is recomputed: the p90s of a
    # period are cached under its rows' highest stamp and count (``selectors``).
    stamp = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "街道日汇总"
        constraints = [models.UniqueConstraint(fields=["day", "street_id"], name="one_rollup_per_street_day")]


for _column in ROLLUP_COLUMNS:  # one counter per figure; the names are the selectors' own
    DayRollup.add_to_class(_column, models.BigIntegerField(default=0))


class Colour(models.TextChoices):
    RED = "red", "红"
    ORANGE = "orange", "橙"
    YELLOW = "yellow", "黄"
    BLUE = "blue", "蓝"
    GREEN = "green", "绿"


# Worst first: a unit takes the worst colour any rule gives it.
COLOUR_ORDER = [Colour.RED, Colour.ORANGE, Colour.YELLOW, Colour.BLUE, Colour.GREEN]


class UnitKind(models.TextChoices):
    GRID = "grid", "网格"
    COMMUNITY = "community", "社区"


class ColourRule(models.Model):
    """One warning rule: when a unit's count for ``rule`` reaches ``threshold``, the unit
    is at least ``colour``. Several rows per rule give its steps (3 overdue → yellow,
    6 → orange, 10 → red)."""

    rule = models.CharField("规则", max_length=24)
    colour = models.CharField("颜色", max_length=8, choices=Colour.choices)
    threshold = models.PositiveIntegerField("阈值")
    enabled = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "五色预警规则"
        ordering = ["rule", "threshold"]
        constraints = [models.UniqueConstraint(fields=["rule", "colour"], name="one_threshold_per_rule_colour")]

    def __str__(self) -> str:
        return f"{self.rule} ≥ {self.threshold} → {self.get_colour_display()}"


class UnitColour(models.Model):
    """The current colour of a grid or a community, with the reasons that set it."""

    unit_kind = models.CharField(max_length=12, choices=UnitKind.choices)
    unit_id = models.BigIntegerField()
    street_id = models.BigIntegerField()
    colour = models.CharField(max_length=8, choices=Colour.choices, default=Colour.GREEN)
    reasons = models.JSONField(default=list)
    since = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = verbose_name_plural = "五色预警"
        constraints = [models.UniqueConstraint(fields=["unit_kind", "unit_id"], name="one_colour_per_unit")]


class ColourChange(models.Model):
    """The history of colours: one row per change."""

    unit_kind = models.CharField(max_length=12, choices=UnitKind.choices)
    unit_id = models.BigIntegerField()
    colour = models.CharField(max_length=8, choices=Colour.choices)
    previous = models.CharField(max_length=8, choices=Colour.choices, blank=True)
    reasons = models.JSONField(default=list)
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = verbose_name_plural = "五色预警变化记录"
        indexes = [models.Index(fields=["unit_kind", "unit_id", "changed_at"], name="colour_history")]


class Scheme(models.Model):
    """An assessment scheme (考核方案) for one period, with its weights (percentages)."""

    name = models.CharField("名称", max_length=64)
    start = models.DateField("开始日期")
    end = models.DateField("结束日期")
    weights = models.JSONField("权重", default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "考核方案"
        ordering = ["-start", "pk"]

    def __str__(self) -> str:
        return self.name


class RatingTarget(models.TextChoices):
    STATIONED = "stationed", "派驻机构（部门驻街道）"
    PLATFORM = "platform", "街道四平台"


class RaterKind(models.TextChoices):
    STREET = "street", "街道"
    COMMUNITY = "community", "社区"
    DEPARTMENT = "department", "主管部门"


class Grade(models.TextChoices):
    EXCELLENT = "excellent", "优秀"
    GOOD = "good", "良好"
    PASS = "pass", "合格"
    FAIL = "fail", "不合格"


class Rating(models.Model):
    """A rating entered through the API: a street rates the departments stationed at it,
    a community rates its street's platforms, a department rates its stationed units."""

    scheme = models.ForeignKey(Scheme, on_delete=models.CASCADE, related_name="ratings")
    rater_kind = models.CharField(max_length=12, choices=RaterKind.choices)
    rater_id = models.BigIntegerField()
    target = models.CharField(max_length=12, choices=RatingTarget.choices)
    # A stationed unit is (department, street); a platform is its id (street_id its street).
    department_id = models.BigIntegerField(null=True)
    street_id = models.BigIntegerField()
    platform_id = models.BigIntegerField(null=True)
    score = models.PositiveSmallIntegerField("评分")
    grade = models.CharField("等次", max_length=12, choices=Grade.choices)
    rated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "考核评分"
        indexes = [models.Index(fields=["scheme", "target", "street_id"], name="rating_target")]
