"""Who may see an event, and what is waiting for whom: derived from the transition table.

``workflow.RELATIONS`` writes each relation of a user to an event once, as SQL and as a
predicate side by side; ``workflow.STEPS`` says which relations may take each step from
which states. Everything here is read from those two tables, never written again:

- **visible** (the detail look-up ``access_event``, the ``all`` queue, photos): any of
  the relations in ``SEES``. Every relation a step names implies one of them, so nobody
  may act on an event they cannot open (tests/test_access.py checks it).
- **queues** (``QUEUES``): each is a list of ``Part``s, "events on which the user may take
  one of these steps through one of these relations". ``to_approve`` is the ``approve``
  step and nothing else, so whoever the table lets approve a closure finds it there.
- **sync buckets** (``sync/entities.py``): the approval bucket is the same ``approve``
  step, keyed by the unit of each relation that may take it.

Each rule has both faces: ``rule(scope)`` (a ``SqlRule``) and ``holds(scope, event)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from backend.accounts.scope import Scope
from backend.core.errors import ApiError
from backend.events.models import Event, Level
from backend.events.workflow import (
    RELATIONS,
    STEPS,
    Condition,
    SqlRule,
    Step,
    all_of,
    any_of,
    as_q,
)

# The relations through which a user sees an event. Territory is seen whole (a
# secretary opens a district-level event of her community, though only the district
# approves it); what one holds or reported is seen wherever it is.
SEES = ("reporter", "follower", "assignee", "in_grid", "in_community", "in_street", "holding_unit", "district_wide")


def q_visible(scope: Scope) -> Q:
    """Events the user may see, as a filter."""
    return as_q(any_of(RELATIONS[name].q(scope) for name in SEES))


def can_see(scope: Scope, event: Event) -> bool:
    return any(RELATIONS[name].holds(scope, event) for name in SEES)


def q_steps_apply(steps: list[Step]) -> SqlRule:
    """Events in a state (and condition) from which one of the steps may be taken. Steps
    without a condition share one ``state IN (…)``."""
    plain = sorted({state for step in steps if step.condition is None for state in step.from_states})
    rules: list[SqlRule] = [Q(state__in=plain)] if plain else []
    seen: set[str] = set()
    for step in steps:
        if step.condition is not None and step.name not in seen:
            same = [s for s in steps if s.condition is step.condition]
            seen.update(s.name for s in same)
            rules.append(Q(state__in=sorted({state for s in same for state in s.from_states})) & step.condition.q)
    return any_of(rules)


@dataclass(frozen=True)
class Part:
    """Events where one of ``via`` holds and, with ``steps``, where the user may take one
    of them through that relation (``acting``; empty ``via``: the steps' own relations),
    or where one of them merely applies (not ``acting``); and where ``only`` holds.
    Empty ``via`` otherwise: no relation beyond seeing it, which every queue adds."""

    steps: tuple[str, ...] | None = None
    via: tuple[str, ...] = ()
    only: Condition | None = None
    acting: bool = True

    def _relations(self) -> list[tuple[str, list[Step]]]:
        """(relation, the steps it may take) pairs, in the table's order."""
        steps = [STEPS[name] for name in self.steps]
        names = list(self.via) or list(dict.fromkeys(r for step in steps for r in step.relations))
        return [(name, [step for step in steps if name in step.relations]) for name in names]

    def rule(self, scope: Scope) -> SqlRule:
        seen = any_of(RELATIONS[name].q(scope) for name in self.via) if self.via else True
        if self.steps is None:
            rule = seen
        elif self.acting:
            rule = any_of(
                all_of(RELATIONS[name].q(scope), q_steps_apply(steps)) for name, steps in self._relations() if steps
            )
        else:
            rule = all_of(seen, q_steps_apply([STEPS[name] for name in self.steps]))
        return all_of(rule, self.only.q if self.only else True)

    def holds(self, scope: Scope, event: Event) -> bool:
        if self.only is not None and not self.only.test(event):
            return False
        seen = not self.via or any(RELATIONS[name].holds(scope, event) for name in self.via)
        if self.steps is None:
            return seen
        if self.acting:
            return any(
                any(step.applies_to(event) for step in steps) and RELATIONS[name].holds(scope, event)
                for name, steps in self._relations()
            )
        return seen and any(STEPS[name].applies_to(event) for name in self.steps)


AT_DISTRICT = Condition("区级事件", Q(level=Level.DISTRICT), lambda e: e.level == Level.DISTRICT)
IS_OVERDUE = Condition("已超期", Q(overdue=True), lambda e: e.overdue)

# The street's (or for district-level events the district's) triage work. The
# commander may take these steps on any event; their queue holds the district's own.
TRIAGE_STEPS = ("accept", "reject", "merge", "dispatch", "extension/approve", "extension/refuse", "reopen")


@dataclass(frozen=True)
class Queue:
    label: str
    parts: tuple[Part, ...]

    def rule(self, scope: Scope) -> SqlRule:
        return any_of(part.rule(scope) for part in self.parts)

    def holds(self, scope: Scope, event: Event) -> bool:
        return can_see(scope, event) and any(part.holds(scope, event) for part in self.parts)


QUEUES: dict[str, Queue] = {
    "my_tasks": Queue("我的任务 (网格员/处置人员)", (Part(("sign", "return", "handle"), ("holder",)),)),
    "to_triage": Queue(
        "待分流 (调度员/区指挥中心)",
        (
            Part(TRIAGE_STEPS, ("street_dispatcher",)),
            Part(TRIAGE_STEPS, ("commander",), only=AT_DISTRICT),
            Part(("park/approve", "park/refuse")),
        ),
    ),
    # Whoever the table lets approve a closure: change STEPS["approve"], not this.
    "to_approve": Queue("待结案审核 (社区书记/区指挥中心)", (Part(("approve",)),)),
    "overdue": Queue("超期 (调度员/区指挥中心)", (Part(("urge",), only=IS_OVERDUE, acting=False),)),
    "my_reports": Queue("我的上报", (Part(via=("reporter",)),)),
    "all": Queue("辖区内全部", (Part(),)),
}


def q_queue(name: str, scope: Scope) -> Q:
    """The queue's own condition (``event_queue`` adds visibility)."""
    queue = QUEUES.get(name)
    if queue is None:
        raise ApiError("validation_error", detail={"queue": f"one of {', '.join(QUEUES)}"})
    return as_q(queue.rule(scope))


def in_queue(name: str, scope: Scope, event: Event) -> bool:
    return QUEUES[name].holds(scope, event)


def q_may_take(step_name: str, scope: Scope) -> SqlRule:
    """Events on which the user may take the step now (``allowed_steps`` in SQL)."""
    return Part((step_name,)).rule(scope)
