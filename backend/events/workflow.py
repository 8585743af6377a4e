"""The transition table: which step is allowed from which state, by whom.

One table in code (``STEPS``); ``python manage.py workflow_doc`` prints it into
docs/workflow.md and a test keeps the two equal. Each step's service in
``services.py`` enforces it through ``check_step``.

Who may act is a *relation* between the user and the event, not only a role: the
dispatcher of the event's street, the current holder, the reporter…
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.accounts.models import Role
from backend.accounts.scope import Scope
from backend.core.errors import ApiError, register
from backend.events.models import Event, Level, Satisfaction
from backend.events.models import State as S

register("step_forbidden", 403, "您无权对该事件执行此操作", "You may not take this step on this event")


@dataclass(frozen=True)
class Relation:
    name: str
    label: str
    role: str
    holds: Callable[[Scope, Event], bool]


def _is_triager(scope: Scope, event: Event) -> bool:
    return Role.DISPATCHER in scope.roles and event.street_id in scope.street_ids and event.level <= Level.STREET


def _is_holder(scope: Scope, event: Event) -> bool:
    if event.holder_user_id is not None:
        return event.holder_user_id == scope.user_id
    return Role.HANDLER in scope.roles and (
        (event.holder_platform_id is not None and event.holder_platform_id in scope.platform_ids)
        or (event.holder_department_id is not None and event.holder_department_id in scope.department_ids)
    )


RELATIONS = {
    r.name: r
    for r in [
        Relation("street_dispatcher", "事件所在街道的调度员（街道层级及以下）", Role.DISPATCHER, _is_triager),
        Relation("commander", "区指挥中心", Role.COMMANDER, lambda scope, event: Role.COMMANDER in scope.roles),
        Relation("holder", "当前承办人（平台/部门处置人员或被派遣的网格员）", Role.HANDLER, _is_holder),
        Relation(
            "community_secretary",
            "事件所在社区的书记（区级事件除外）",
            Role.SECRETARY,
            lambda scope, event: Role.SECRETARY in scope.roles
            and event.community_id in scope.community_ids
            and event.level < Level.DISTRICT,
        ),
        Relation(
            "district_approver",
            "区指挥中心（区级事件）",
            Role.COMMANDER,
            lambda scope, event: Role.COMMANDER in scope.roles and event.level == Level.DISTRICT,
        ),
        Relation("reporter", "上报人", "", lambda scope, event: event.reporter_id == scope.user_id),
        Relation(
            "staff_reporter",
            "上报人（工作人员；居民爆料提交后不再修改）",
            "",
            lambda scope, event: event.reporter_id == scope.user_id and scope.is_staff_role,
        ),
        Relation(
            "grid_worker",
            "事件所在网格的网格员（网格层级）",
            Role.GRID_WORKER,
            lambda scope, event: Role.GRID_WORKER in scope.roles
            and event.grid_id in scope.grid_ids
            and event.level == Level.GRID,
        ),
        # Steps the system takes by itself (photos arriving, a wait running out): no
        # person ever holds this relation, so no one is offered or allowed those steps.
        Relation("system", "系统自动（照片到达或等待超时）", "system", lambda scope, event: False),
        Relation(
            "secretary_below_street",
            "事件所在社区的书记（社区层级及以下）",
            Role.SECRETARY,
            lambda scope, event: Role.SECRETARY in scope.roles
            and event.community_id in scope.community_ids
            and event.level <= Level.COMMUNITY,
        ),
    ]
}


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: the state does not change
    relations: tuple[str, ...]
    condition: Callable[[Event], bool] | None = None
    condition_label: str = ""
    # Where the step goes instead while the photos it claims have not arrived
    # (docs/workflow.md, "Photo evidence").
    waiting_state: str | None = None

    @property
    def by_system(self) -> bool:
        """Taken by the server itself (supervision, an arriving photo), never asked for by
        a person: no route and no phone command runs it."""
        return self.relations == ("system",)

    def applies_to(self, event: Event) -> bool:
        return event.state in self.from_states and (self.condition is None or self.condition(event))


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
            condition_label="等待超过 EVIDENCE_WAIT_HOURS",
        ),
        Step(
            "extension",
            "申请延期",
            (S.IN_PROGRESS,),
            None,
            ("holder",),
            lambda e: e.extension_requested_until is None,
            "无待审批的延期申请",
        ),
        Step(
            "extension/approve",
            "批准延期",
            (S.IN_PROGRESS,),
            None,
            TRIAGE,
            lambda e: e.extension_requested_until is not None,
            "有待审批的延期申请",
        ),
        Step(
            "extension/refuse",
            "不批准延期",
            (S.IN_PROGRESS,),
            None,
            TRIAGE,
            lambda e: e.extension_requested_until is not None,
            "有待审批的延期申请",
        ),
        Step(
            "park",
            "申请挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            None,
            ("street_dispatcher",),
            lambda e: not e.park_requested,
            "无待审批的挂账申请",
        ),
        Step(
            "park/approve",
            "批准挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            S.PARKED,
            ("commander",),
            lambda e: e.park_requested,
            "有待审批的挂账申请",
        ),
        Step(
            "park/refuse",
            "不批准挂账",
            (S.ACCEPTED, S.RETURNED, S.IN_PROGRESS),
            None,
            ("commander",),
            lambda e: e.park_requested,
            "有待审批的挂账申请",
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
        Step("evaluate", "评价（满意/基本满意/不满意）", (S.CLOSED,), S.EVALUATED, ("reporter",)),
        Step(
            "reopen",
            "不满意重启",
            (S.EVALUATED,),
            S.ACCEPTED,
            TRIAGE,
            lambda e: e.satisfaction == Satisfaction.UNSATISFIED,
            "评价为不满意",
        ),
        Step("urge", "催办", (S.DISPATCHED, S.IN_PROGRESS, S.RETURNED), None, TRIAGE),
        Step(
            "escalate",
            "报上一级（需说明理由）",
            OPEN_STATES,
            None,
            ("grid_worker", "holder", "secretary_below_street", "street_dispatcher"),
            lambda e: e.level < Level.DISTRICT,
            "尚未到区级",
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
    detail = {"state": event.state, "allowed_steps": allowed_steps(scope, event)}
    if relation is None:
        raise ApiError("step_forbidden", detail=detail)
    if not step.applies_to(event):
        raise ApiError("illegal_transition", detail=detail)
    return relation


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
