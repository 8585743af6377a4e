"""The transition table: which step is allowed from which state, by whom.

One table in code (``STEPS``); ``python manage.py workflow_doc`` prints it into
docs/workflow.md and a test keeps the two equal. Each step's service in
``services.py`` enforces it through ``check_step``.

Who may act is a *relation* between the user and the event, not only a role: the
dispatcher of the event's street, the current holder, the reporter… Each relation is
written here once, as SQL and as a predicate side by side (``RELATIONS``), and
``access.py`` derives visibility, the role queues and (with ``sync/entities.py``) the
sync buckets from this table. To change who may take a step (who may approve a
closure: ``STEPS["approve"].relations``), change it here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q

from backend.accounts.models import Role
from backend.accounts.scope import Scope
from backend.core.errors import ApiError, register
from backend.events.models import Event, Level, Satisfaction
from backend.events.models import State as S

register("step_forbidden", 403, "您无权对该事件执行此操作", "You may not take this step on this event")


# --- conditions as SQL and as Python, side by side ---------------------------------
#
# Every rule below is written twice on adjacent lines: as a ``Q`` for the queues, the
# detail look-up and the sync filters, and as a predicate on one event for
# ``allowed_steps``/``check_step`` and the pull's per-row test. ``backend/events/access.py``
# builds visibility, queues and sync buckets from them; tests/test_access.py holds each
# pair equal on a varied history for every persona.
#
# A rule's SQL side is ``ALWAYS``, ``None`` (never: the user has no such role or unit)
# or a ``Q``. ``Q()`` is not used for "always": Django drops an empty ``Q`` from an OR,
# which would turn "always, or …" into "…".

ALWAYS = True
SqlRule = Q | bool | None


def any_of(rules) -> SqlRule:
    result: SqlRule = None
    for rule in rules:
        if rule is None:
            continue
        if rule is ALWAYS:
            return ALWAYS
        result = rule if result is None else result | rule
    return result


def all_of(*rules: SqlRule) -> SqlRule:
    result: SqlRule = ALWAYS
    for rule in rules:
        if rule is None:
            return None
        if rule is ALWAYS:
            continue
        result = rule if result is ALWAYS else result & rule
    return result


def as_q(rule: SqlRule) -> Q:
    """A rule as a ``filter()`` argument (``pk__in=[]``: Django answers it without a query)."""
    if rule is None:
        return Q(pk__in=[])
    return Q() if rule is ALWAYS else rule


def prefixed(rule: SqlRule, prefix: str) -> SqlRule:
    """The rule for rows that reach the event through ``prefix`` (``"event__"``)."""
    if not isinstance(rule, Q):
        return rule
    clone = copy(rule)
    clone.children = [
        prefixed(child, prefix) if isinstance(child, Q) else (prefix + child[0], child[1]) for child in rule.children
    ]
    return clone


@dataclass(frozen=True)
class Condition:
    """A condition on the event alone (a step's extra condition, a queue's filter)."""

    label: str
    q: Q
    test: Callable[[Event], bool]


@dataclass(frozen=True)
class Relation:
    """A relation of a user to an event: who they are to it. ``q(scope)`` is the events
    it holds for (a ``SqlRule``), ``holds(scope, event)`` the same for one event."""

    name: str
    label: str
    role: str  # recorded on the history row of a step taken through it
    q: Callable[[Scope], SqlRule]
    holds: Callable[[Scope, Event], bool]


def _has(scope: Scope, role: str, units: frozenset[int]) -> bool:
    """The user has the role bound to some unit (else the relation's SQL is "never")."""
    return role in scope.roles and bool(units)


def _followed(user_id: int) -> Q:
    """Events a resident follows (``backend.tips``): a me-too, or a tip merged into it."""
    from backend.tips.models import Follow

    return Q(pk__in=Follow.objects.filter(user_id=user_id).values("event_id"))


def _follows(user_id: int, event_id) -> bool:
    from backend.tips.models import Follow

    return Follow.objects.filter(user_id=user_id, event_id=event_id).exists()


RELATIONS = {
    r.name: r
    for r in [
        # Who sees an event (``access.SEES``): every relation a step names implies one of these.
        Relation(
            "reporter",
            "上报人",
            "",
            lambda s: Q(reporter_id=s.user_id),
            lambda s, e: e.reporter_id == s.user_id,
        ),
        Relation(
            "follower",
            "关注该事件的居民（我也遇到、所报事件被合并至此）",
            "",
            lambda s: None if s.is_staff_role else _followed(s.user_id),
            lambda s, e: not s.is_staff_role and _follows(s.user_id, e.pk),
        ),
        Relation(
            "assignee",
            "被派遣的承办人本人",
            "",
            lambda s: Q(holder_user_id=s.user_id),
            lambda s, e: e.holder_user_id == s.user_id,
        ),
        Relation(
            "holding_unit",
            "承办平台/部门/下沉单位的人员",
            "",
            lambda s: any_of(
                [
                    Q(holder_platform_id__in=s.platform_ids) if s.platform_ids else None,
                    Q(holder_department_id__in=s.department_ids) if s.department_ids else None,
                    Q(holder_unit_id__in=s.unit_ids) if s.unit_ids else None,
                ]
            ),
            lambda s, e: e.holder_platform_id in s.platform_ids
            or e.holder_department_id in s.department_ids
            or e.holder_unit_id in s.unit_ids,
        ),
        Relation(
            "in_grid",
            "事件所在网格的网格员（任何层级）",
            "",
            lambda s: Q(grid_id__in=s.grid_ids) if s.grid_ids else None,
            lambda s, e: e.grid_id in s.grid_ids,
        ),
        Relation(
            "in_community",
            "事件所在社区的书记（任何层级）",
            "",
            lambda s: Q(community_id__in=s.community_ids) if s.community_ids else None,
            lambda s, e: e.community_id in s.community_ids,
        ),
        Relation(
            "in_street",
            "事件所在街道的调度员（任何层级）",
            "",
            lambda s: Q(street_id__in=s.street_ids) if s.street_ids else None,
            lambda s, e: e.street_id in s.street_ids,
        ),
        Relation(
            "district_wide",
            "区指挥中心与管理员",
            "",
            lambda s: ALWAYS if s.district_wide else None,
            lambda s, e: s.district_wide,
        ),
        # Who may act (named by the steps below).
        Relation(
            "street_dispatcher",
            "事件所在街道的调度员（街道层级及以下）",
            Role.DISPATCHER,
            lambda s: Q(street_id__in=s.street_ids, level__lte=Level.STREET)
            if _has(s, Role.DISPATCHER, s.street_ids)
            else None,
            lambda s, e: Role.DISPATCHER in s.roles and e.street_id in s.street_ids and e.level <= Level.STREET,
        ),
        Relation(
            "commander",
            "区指挥中心",
            Role.COMMANDER,
            lambda s: ALWAYS if Role.COMMANDER in s.roles else None,
            lambda s, e: Role.COMMANDER in s.roles,
        ),
        Relation(
            "holder",
            "当前承办人（平台/部门/下沉单位处置人员或被派遣的网格员）",
            Role.HANDLER,
            # A user named as holder holds it alone; otherwise the handlers of the unit.
            lambda s: any_of(
                [
                    Q(holder_user_id=s.user_id),
                    Q(holder_user_id__isnull=True, holder_platform_id__in=s.platform_ids)
                    if _has(s, Role.HANDLER, s.platform_ids)
                    else None,
                    Q(holder_user_id__isnull=True, holder_department_id__in=s.department_ids)
                    if _has(s, Role.HANDLER, s.department_ids)
                    else None,
                    Q(holder_user_id__isnull=True, holder_unit_id__in=s.unit_ids)
                    if _has(s, Role.HANDLER, s.unit_ids)
                    else None,
                ]
            ),
            lambda s, e: e.holder_user_id == s.user_id
            if e.holder_user_id is not None
            else Role.HANDLER in s.roles
            and (
                (e.holder_platform_id is not None and e.holder_platform_id in s.platform_ids)
                or (e.holder_department_id is not None and e.holder_department_id in s.department_ids)
                or (e.holder_unit_id is not None and e.holder_unit_id in s.unit_ids)
            ),
        ),
        Relation(
            "community_secretary",
            "事件所在社区的书记（区级事件除外）",
            Role.SECRETARY,
            lambda s: Q(community_id__in=s.community_ids, level__lt=Level.DISTRICT)
            if _has(s, Role.SECRETARY, s.community_ids)
            else None,
            lambda s, e: Role.SECRETARY in s.roles and e.community_id in s.community_ids and e.level < Level.DISTRICT,
        ),
        Relation(
            "district_approver",
            "区指挥中心（区级事件）",
            Role.COMMANDER,
            lambda s: Q(level=Level.DISTRICT) if Role.COMMANDER in s.roles else None,
            lambda s, e: Role.COMMANDER in s.roles and e.level == Level.DISTRICT,
        ),
        Relation(
            "staff_reporter",
            "上报人（工作人员；居民爆料提交后不再修改）",
            "",
            lambda s: Q(reporter_id=s.user_id) if s.is_staff_role else None,
            lambda s, e: e.reporter_id == s.user_id and s.is_staff_role,
        ),
        Relation(
            "grid_worker",
            "事件所在网格的网格员（网格层级）",
            Role.GRID_WORKER,
            lambda s: Q(grid_id__in=s.grid_ids, level=Level.GRID) if _has(s, Role.GRID_WORKER, s.grid_ids) else None,
            lambda s, e: Role.GRID_WORKER in s.roles and e.grid_id in s.grid_ids and e.level == Level.GRID,
        ),
        # Steps the system takes by itself (photos arriving, a wait running out): no
        # person ever holds this relation, so no one is offered or allowed those steps.
        Relation("system", "系统自动（照片到达或等待超时）", "system", lambda s: None, lambda s, e: False),
        Relation(
            "secretary_below_street",
            "事件所在社区的书记（社区层级及以下）",
            Role.SECRETARY,
            lambda s: Q(community_id__in=s.community_ids, level__lte=Level.COMMUNITY)
            if _has(s, Role.SECRETARY, s.community_ids)
            else None,
            lambda s, e: Role.SECRETARY in s.roles and e.community_id in s.community_ids and e.level <= Level.COMMUNITY,
        ),
    ]
}

NO_EXTENSION_REQUEST = Condition(
    "无待审批的延期申请",
    Q(extension_requested_until__isnull=True),
    lambda e: e.extension_requested_until is None,
)
EXTENSION_REQUESTED = Condition(
    "有待审批的延期申请",
    Q(extension_requested_until__isnull=False),
    lambda e: e.extension_requested_until is not None,
)


def _evidence_wait_over(event: Event) -> bool:
    from django.conf import settings
    from django.utils import timezone

    hours = settings.SUPERVISION["EVIDENCE_WAIT_HOURS"]
    return event.handled_at is not None and event.handled_at + timedelta(hours=hours) <= timezone.now()


# The supervision job finds such events by time itself; the SQL half only narrows to
# events that were handled (no person holds the system relation, so no queue reads it).
EVIDENCE_WAIT_OVER = Condition("等待超过 EVIDENCE_WAIT_HOURS", Q(handled_at__isnull=False), _evidence_wait_over)
NO_PARK_REQUEST = Condition("无待审批的挂账申请", Q(park_requested=False), lambda e: not e.park_requested)
PARK_REQUESTED = Condition("有待审批的挂账申请", Q(park_requested=True), lambda e: e.park_requested)
UNSATISFIED = Condition(
    "评价为不满意", Q(satisfaction=Satisfaction.UNSATISFIED), lambda e: e.satisfaction == Satisfaction.UNSATISFIED
)
BELOW_DISTRICT = Condition("尚未到区级", Q(level__lt=Level.DISTRICT), lambda e: e.level < Level.DISTRICT)


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: the state does not change
    relations: tuple[str, ...]
    condition: Condition | None = None
    # Where the step goes instead while the photos it claims have not arrived
    # (docs/workflow.md, "Photo evidence").
    waiting_state: str | None = None

    @property
    def condition_label(self) -> str:
        return self.condition.label if self.condition else ""

    @property
    def by_system(self) -> bool:
        """Taken by the server itself (supervision, an arriving photo), never asked for by
        a person: no route and no phone command runs it."""
        return self.relations == ("system",)

    def applies_to(self, event: Event) -> bool:
        return event.state in self.from_states and (self.condition is None or self.condition.test(event))


TRIAGE = ("street_dispatcher", "commander")
OPEN_STATES = (S.REPORTED, S.ACCEPTED, S.DISPATCHED, S.RETURNED, S.IN_PROGRESS)

STEPS: dict[str, Step] = {
    step.name: step
    for step in [
        Step("accept", "受理", (S.REPORTED,), S.ACCEPTED, TRIAGE),
        Step("reject", "驳回（需说明理由）", (S.REPORTED,), S.REJECTED, TRIAGE),
        Step("merge", "合并为重复事件", (S.REPORTED, S.ACCEPTED), S.MERGED, TRIAGE),
        Step("dispatch", "分流交办（平台/部门/网格员，附时限）", (S.ACCEPTED, S.RETURNED), S.DISPATCHED, TRIAGE),
        Step("sign", "签收", (S.DISPATCHED,), S.IN_PROGRESS, ("holder",)),
        Step("return", "退回（需说明理由）", (S.DISPATCHED,), S.RETURNED, ("holder",)),
        Step(
            "handle",
            "处置完毕（附结果与处置后照片）",
            (S.IN_PROGRESS,),
            S.HANDLED,
            ("holder",),
            waiting_state=S.AWAITING_EVIDENCE,
        ),
        Step(
            "evidence_arrived",
            "所缺照片已到达，转结案审核",
            (S.AWAITING_EVIDENCE,),
            S.HANDLED,
            ("system",),
        ),
        Step(
            "evidence_overdue",
            "照片等待超时，转书记审核（记录原因）",
            (S.AWAITING_EVIDENCE,),
            S.HANDLED,
            ("system",),
            EVIDENCE_WAIT_OVER,
        ),
        Step(
            "extension",
            "申请延期",
            (S.IN_PROGRESS,),
            None,
            ("holder",),
            NO_EXTENSION_REQUEST,
        ),
        Step(
            "extension/approve",
            "批准延期",
            (S.IN_PROGRESS,),
            None,
            TRIAGE,
            EXTENSION_REQUESTED,
        ),
        Step(
            "extension/refuse",
            "不批准延期",
            (S.IN_PROGRESS,),
            None,
            TRIAGE,
            EXTENSION_REQUESTED,
        ),
        Step(
            "park",
            "申请挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            None,
            ("street_dispatcher",),
            NO_PARK_REQUEST,
        ),
        Step(
            "park/approve",
            "批准挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            S.PARKED,
            ("commander",),
            PARK_REQUESTED,
        ),
        Step(
            "park/refuse",
            "不批准挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            None,
            ("commander",),
            PARK_REQUESTED,
        ),
        Step("unpark", "解除挂账，重新受理", (S.PARKED,), S.ACCEPTED, TRIAGE),
        Step("approve", "结案审核通过", (S.HANDLED,), S.CLOSED, ("community_secretary", "district_approver")),
        Step(
            "rework",
            "退回返工（需说明理由）",
            (S.HANDLED,),
            S.IN_PROGRESS,
            ("community_secretary", "district_approver"),
        ),
        Step("evaluate", "评价（满意/基本满意/不满意）", (S.CLOSED,), S.EVALUATED, ("reporter", "follower")),
        Step(
            "reopen",
            "不满意重启",
            (S.EVALUATED,),
            S.ACCEPTED,
            TRIAGE,
            UNSATISFIED,
        ),
        Step("urge", "催办", (S.DISPATCHED, S.IN_PROGRESS, S.RETURNED), None, TRIAGE),
        Step(
            "escalate",
            "报上一级（需说明理由）",
            OPEN_STATES,
            None,
            ("grid_worker", "holder", "secretary_below_street", "street_dispatcher"),
            BELOW_DISTRICT,
        ),
        Step(
            "edit",
            "修改描述、地址、严重程度（不改变状态）",
            (*OPEN_STATES, S.AWAITING_EVIDENCE, S.HANDLED, S.PARKED),
            None,
            ("street_dispatcher", "commander", "holder", "community_secretary", "staff_reporter", "grid_worker"),
        ),
        Step(
            "comment",
            "补充说明（不改变状态）",
            tuple(S.values),
            None,
            ("street_dispatcher", "commander", "holder", "community_secretary", "reporter", "grid_worker"),
        ),
    ]
}


# --- who is shown a resident reporter's phone and name (PIPL) ----------------------


CONTACT_ALLOWED = Condition("上报人允许联系", Q(contact_allowed=True), lambda e: e.contact_allowed)


@dataclass(frozen=True)
class Disclosure:
    """Who is shown a piece of a person's data on an event: anyone holding one of
    ``relations``, and through ``with_condition`` only while ``condition`` holds."""

    label: str
    relations: tuple[str, ...]
    with_condition: tuple[str, ...] = ()
    condition: Condition | None = None

    def holds(self, scope: Scope, event: Event) -> bool:
        if any(RELATIONS[name].holds(scope, event) for name in self.relations):
            return True
        if self.condition is None or not self.condition.test(event):
            return False
        return any(RELATIONS[name].holds(scope, event) for name in self.with_condition)


# A resident reporter's phone and name: the street's dispatcher and the commander; the
# holder (the handling unit's staff, or the one it was dispatched to) only when the
# reporter allowed contact; nobody else, and never a public output. Every staff answer
# that shows an event's reporter reads this (``backend/events/reporters.py``).
REPORTER_CONTACT = Disclosure(
    "居民上报人的手机号与姓名", ("street_dispatcher", "commander"), ("holder",), CONTACT_ALLOWED
)


def relation_for(step: Step, scope: Scope, event: Event) -> Relation | None:
    for name in step.relations:
        relation = RELATIONS[name]
        if relation.holds(scope, event):
            return relation
    return None


def allowed_steps(scope: Scope, event: Event) -> list[str]:
    return [name for name, step in STEPS.items() if step.applies_to(event) and relation_for(step, scope, event)]


def check_step(name: str, scope: Scope, event: Event) -> Relation:
    """The relation through which the user may take the step now, or the error:
    403 when the user may not take it on this event at all, 409 when the event's
    state does not allow it (with the current state and what is allowed)."""
    step = STEPS[name]
    relation = relation_for(step, scope, event)
    if relation is not None and step.applies_to(event):
        return relation
    detail = {
        "state": event.state,
        "allowed_steps": allowed_steps(scope, event),
    }  # only for the error: it walks every step
    raise ApiError("step_forbidden" if relation is None else "illegal_transition", detail=detail)


def workflow_markdown() -> str:
    """The table as Markdown, for docs/workflow.md."""
    labels = dict(S.choices)
    lines = [
        "| step | 中文 | from states | to state | who may take it | condition |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for step in STEPS.values():
        sources = (
            ", ".join(f"`{s}` {labels[s]}" for s in step.from_states)
            if len(step.from_states) < len(S.values)
            else "any"
        )
        target = f"`{step.to_state}` {labels[step.to_state]}" if step.to_state else "unchanged"
        if step.waiting_state:
            target += f"; `{step.waiting_state}` {labels[step.waiting_state]} while its photos have not arrived"
        who = "; ".join(RELATIONS[r].label for r in step.relations)
        lines.append(f"| `{step.name}` | {step.label} | {sources} | {target} | {who} | {step.condition_label or '—'} |")
    return "\n".join(lines) + "\n"
