"""The event commands: one registry that the REST routes (``api.py``) and the sync
push (``sync/commands.py``) both read, so a step is declared once.

A command's name is the one word for its step everywhere: the key of the transition
table (``workflow.STEPS``, which says who may take it and from which states), the REST
path ``POST /api/v1/events/{id}/<name>``, the phone's mutation ``event.<name>``, an
entry of ``allowed_steps`` and the ``action`` of the history row it writes. A client
can therefore post any step it was offered to ``/events/{id}/<step>``.

To add a step: its row in ``workflow.STEPS``, its service in ``services/steps.py``,
its body in ``schemas.py`` (or an existing one), and one ``Command`` in ``COMMANDS``
below. The REST route, the phone's mutation (its arguments are the body's fields and
``event_id``), the permission check and ``allowed_steps`` follow from these.

Both callers run a step through ``command_run``, and a report through
``services.event_report`` / ``event_report_batch`` (a REST report is a batch of one).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ninja import Schema
from pydantic import create_model

from backend.events import schemas, services
from backend.events.models import Event
from backend.events.selectors import access_event
from backend.events.services import Actor, DispatchTarget, Photos
from backend.events.workflow import STEPS, Step

Service = Callable[[Event, Actor, Any], Event]


@dataclass(frozen=True)
class Command:
    """A step on an existing event. ``body``: the REST body (``device_time`` is the
    route's; a phone's mutation carries its own ``client_time``). ``service``: the
    step's service called with the locked event, the actor and the parsed body.
    ``operation``: the REST view's former name where it differed, which names the
    OpenAPI ``operationId`` that generated clients call. ``aliases``: earlier names
    of the phone's mutation (``event.<alias>``), still accepted from phones in the field."""

    name: str
    summary: str
    body: type[Schema]
    service: Service
    operation: str = ""
    aliases: tuple[str, ...] = ()
    args: type[Schema] = field(init=False)  # a phone's arguments: the body's fields and ``event_id``

    def __post_init__(self) -> None:
        args = create_model(
            f"{self.body.__name__}Args", __base__=self.body, event_id=(uuid.UUID, ...), __module__=__name__
        )
        object.__setattr__(self, "args", args)

    @property
    def step(self) -> Step:
        """Who may run it, from which states: the transition table's row."""
        return STEPS[self.name]


def _photos(body) -> Photos:
    return Photos(list(getattr(body, "before_photos", [])), list(getattr(body, "after_photos", [])))


def _merge(event: Event, actor: Actor, body: schemas.MergeIn) -> Event:
    into = access_event(actor.user, body.into)
    return services.event_merge(event=event, actor=actor, into=into, note=body.note)


def _dispatch(event: Event, actor: Actor, body: schemas.DispatchIn) -> Event:
    target = DispatchTarget(body.platform_id, body.department_id, body.grid_worker_id, body.unit_id)
    return services.event_dispatch(
        event=event, actor=actor, to=target, deadline_at=body.deadline_at, note=body.note, reason=body.reason
    )


S = schemas
COMMANDS: dict[str, Command] = {
    command.name: command
    for command in [
        Command(
            "accept",
            "受理 Accept",
            S.AcceptIn,
            lambda e, a, b: services.event_accept(event=e, actor=a, note=b.note, category=b.category),
        ),
        Command(
            "reject",
            "驳回 Reject",
            S.ReasonIn,
            lambda e, a, b: services.event_reject(event=e, actor=a, reason=b.reason),
        ),
        Command("merge", "合并重复事件 Merge into a duplicate", S.MergeIn, _merge),
        Command("dispatch", "分流交办 Dispatch", S.DispatchIn, _dispatch),
        Command("sign", "签收 Sign for", S.StepIn, lambda e, a, b: services.event_sign(event=e, actor=a, note=b.note)),
        Command(
            "return",
            "退回 Return to the dispatcher",
            S.ReasonIn,
            lambda e, a, b: services.event_return(event=e, actor=a, reason=b.reason),
            operation="return_",
        ),
        Command(
            "handle",
            "处置完毕 Handled",
            S.HandleIn,
            lambda e, a, b: services.event_handle(event=e, actor=a, result_note=b.result_note, photos=_photos(b)),
        ),
        Command(
            "extension",
            "申请延期 Request an extension",
            S.ExtensionIn,
            lambda e, a, b: services.event_request_extension(event=e, actor=a, until=b.until, reason=b.reason),
            operation="request_extension",
            aliases=("request_extension",),
        ),
        Command(
            "extension/approve",
            "批准延期 Approve the extension",
            S.StepIn,
            lambda e, a, b: services.event_decide_extension(event=e, actor=a, approve=True, note=b.note),
            operation="approve_extension",
        ),
        Command(
            "extension/refuse",
            "不批准延期 Refuse the extension",
            S.StepIn,
            lambda e, a, b: services.event_decide_extension(event=e, actor=a, approve=False, note=b.note),
            operation="refuse_extension",
        ),
        Command(
            "park",
            "申请挂账 Request parking",
            S.ReasonIn,
            lambda e, a, b: services.event_request_park(event=e, actor=a, reason=b.reason),
            operation="request_park",
        ),
        Command(
            "park/approve",
            "批准挂账 Approve parking",
            S.StepIn,
            lambda e, a, b: services.event_decide_park(event=e, actor=a, approve=True, note=b.note),
            operation="approve_park",
        ),
        Command(
            "park/refuse",
            "不批准挂账 Refuse parking",
            S.StepIn,
            lambda e, a, b: services.event_decide_park(event=e, actor=a, approve=False, note=b.note),
            operation="refuse_park",
        ),
        Command(
            "unpark", "解除挂账 Unpark", S.StepIn, lambda e, a, b: services.event_unpark(event=e, actor=a, note=b.note)
        ),
        Command(
            "approve",
            "结案 Approve the closure",
            S.StepIn,
            lambda e, a, b: services.event_approve(event=e, actor=a, note=b.note),
        ),
        Command(
            "rework",
            "返工 Send back for rework",
            S.ReasonIn,
            lambda e, a, b: services.event_rework(event=e, actor=a, reason=b.reason),
        ),
        Command(
            "evaluate",
            "评价 Evaluate",
            S.EvaluateIn,
            lambda e, a, b: services.event_evaluate(event=e, actor=a, satisfaction=b.satisfaction, comment=b.comment),
        ),
        Command(
            "reopen",
            "不满意重启 Reopen",
            S.StepIn,
            lambda e, a, b: services.event_reopen(event=e, actor=a, note=b.note),
        ),
        Command("urge", "催办 Urge", S.StepIn, lambda e, a, b: services.event_urge(event=e, actor=a, note=b.note)),
        Command(
            "escalate",
            "报上一级 Escalate one level",
            S.ReasonIn,
            lambda e, a, b: services.event_escalate(event=e, actor=a, reason=b.reason),
        ),
        Command(
            "comment",
            "补充说明 Comment",
            S.CommentIn,
            lambda e, a, b: services.event_comment(event=e, actor=a, note=b.note, photos=_photos(b)),
        ),
        # A phone's edit merges field by field against its base version instead
        # (sync/conflicts.py); its mutation was first named ``event.update_fields``.
        Command(
            "edit",
            "修改描述、地址、严重程度 Edit description, address, severity",
            S.EditIn,
            lambda e, a, b: services.event_edit(event=e, actor=a, fields=b.fields, note=b.note),
            aliases=("update_fields",),
        ),
    ]
}
del S

# Every step a person takes is a command and every command a step: the table is the
# permission, the registry the way in (the system's own steps have no way in).
assert set(COMMANDS) == {name for name, step in STEPS.items() if not step.by_system}, set(COMMANDS) ^ set(STEPS)

# The report: not a step on an existing event (its permission is the reporter's role
# and the sources it may report, ``services.SOURCES_BY_ROLE``); its name is the history's
# first action and the phone's ``event.report``.
REPORT = "report"


def command_run(command: Command, *, actor: Actor, event_id: uuid.UUID, body) -> Event:
    """A step on one event, the way the REST route and a phone's mutation both run it,
    in the caller's transaction: the event fetched and locked through the actor's
    scope, the step's service (which attaches the photos the body references if they
    have arrived, or expects them: ``backend.events.services.photos``), and the event's
    change-log rows and the step's notifications written once, together
    (``backend.events.writes``)."""
    from backend.events.writes import writes_collected

    with writes_collected():
        return command.service(access_event(actor.user, event_id, lock=True), actor, body)
