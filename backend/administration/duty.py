"""The duty list (事项办理职责清单): who handles a category in a street, and the one
rule the dispatch step applies with it.

Look-up order for an event's category and street: the street's own line, then the
district-wide line, then the catalogue's default handler (``Category.default_handler``
with its platform kind or department code). Only a line the district entered binds: a
dispatch elsewhere than such a line names needs a reason, which the dispatch keeps in
the event's hash-chained history (``data["duty_list"]``). The catalogue default is a
suggestion only (no reason asked), until the district enters the category in the list.

``backend.events.services.steps.event_dispatch`` calls :func:`check_dispatch`, so the
REST route and a phone's ``event.dispatch`` (one command registry) both get the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from backend.administration.models import DutyAssignment
from backend.core.errors import ApiError, register
from backend.events.labels import category_name
from backend.events.models import Category, Event, HandlerKind
from backend.fastpath.statements import Plain
from backend.territory.models import Department, Platform

register(
    "dispatch_reason_required",
    422,
    "派遣对象与事项办理职责清单不符，请填写理由",
    "The target differs from the duty list; give a reason",
)


@dataclass(frozen=True)
class Duty:
    handler: str  # HandlerKind: platform, department or grid
    platform_id: int | None
    department_id: int | None
    label: str
    source: str  # "street", "district" or "catalogue"

    @property
    def binding(self) -> bool:
        """Entered in the duty list (a dispatch elsewhere needs a reason)."""
        return self.source != "catalogue"

    def as_dict(self) -> dict:
        return {
            "handler": self.handler,
            "platform_id": self.platform_id,
            "department_id": self.department_id,
            "label": self.label,
            "source": self.source,
            "binding": self.binding,
        }

    def matches(self, *, platform_id=None, department_id=None, grid_worker_id=None) -> bool:
        if self.handler == HandlerKind.PLATFORM:
            return platform_id is not None and platform_id == self.platform_id
        if self.handler == HandlerKind.DEPARTMENT:
            return department_id is not None and department_id == self.department_id
        return grid_worker_id is not None


# The lines that may bind a category in a street, in a statement written once (every
# dispatch reads them: their ORM form, an ``OR`` of two conditions, cost more to compile
# than to run). Held equal to ``duty_lines_orm`` by test_duty_dispatch.py.
def duty_lines_sql(category_id: str, street_id: str, select: str = "{values}") -> str:
    """The lines as SQL, written once: ``category_id`` and ``street_id`` are SQL (a
    parameter or a column); ``select``, what is selected of the line's ``{values}`` (a
    dispatch reads them as one JSON value with its target platform:
    ``events.services.steps``). Table as ``{DutyAssignment}``."""
    values = "d.street_id, d.handler, d.platform_kind, d.department_id"
    return (
        f"SELECT {select.replace('{values}', values)} FROM {{DutyAssignment}} d "
        f"WHERE d.category_id = {category_id} AND (d.street_id = {street_id} OR d.street_id IS NULL)"
    )


DUTY_LINES = Plain(duty_lines_sql("%s", "%s"), DutyAssignment=DutyAssignment)

Lines = dict[int | None, tuple[str, str, int | None]]


def duty_lines(category_id: int, street_id: int) -> Lines:
    """``{street id or None (district-wide): (handler, platform kind, department id)}``."""
    return lines_of(DUTY_LINES.rows([category_id, street_id]))


def lines_of(rows) -> Lines:
    """``duty_lines``' answer from the rows of ``duty_lines_sql``."""
    return {street: tuple(rest) for street, *rest in rows}


def duty_lines_orm(category_id: int, street_id: int) -> dict[int | None, tuple[str, str, int | None]]:
    """``duty_lines`` through the ORM (the plain version the statement is held to)."""
    rows = DutyAssignment.objects.filter(Q(street_id=street_id) | Q(street__isnull=True), category_id=category_id)
    return {row.street_id: (row.handler, row.platform_kind, row.department_id) for row in rows}


def duty_for(category: Category, street_id: int, *, known: Platform | None = None) -> Duty | None:
    """Who handles ``category`` in the street (two queries at most), or None when the
    named platform or department does not exist. ``known``: a platform already read
    with its street (a dispatch's target), used when it is the one named (a street has
    one platform of each kind) instead of reading it again, with the category's lines
    in that street when it was read with them (``known._duty_lines``)."""
    read_along = getattr(known, "_duty_lines", None)
    if read_along is not None and read_along[0] == (category.pk, street_id):
        lines = read_along[1]
    else:
        lines = duty_lines(category.pk, street_id)
    chosen = lines.get(street_id) or lines.get(None)
    if chosen is not None:
        handler, kind, department_id = chosen
        source = "street" if street_id in lines else "district"
    else:
        handler, kind, department_id, source = category.default_handler, category.platform_kind, None, "catalogue"
    if handler == HandlerKind.PLATFORM:
        if known is not None and known.street_id == street_id and known.kind == kind:
            platform = known
        else:
            platform = Platform.objects.filter(street_id=street_id, kind=kind).select_related("street").first()
        if platform is None:
            return None
        return Duty(handler, platform.pk, None, str(platform), source)
    if handler == HandlerKind.DEPARTMENT:
        departments = Department.objects.all()
        department = (
            departments.filter(pk=department_id).first()
            if department_id
            else departments.filter(code=category.default_department_code).first()
        )
        if department is None:
            return None
        return Duty(handler, None, department.pk, department.name, source)
    return Duty(HandlerKind.GRID, None, None, f"网格员（{category_name(category)}属网格事务）", source)


def check_dispatch(
    event: Event,
    *,
    platform_id=None,
    department_id=None,
    grid_worker_id=None,
    reason: str = "",
    platform: Platform | None = None,
) -> dict:
    """The dispatch step's rule: the duty list's entry for the history (``{}`` when the
    list names nobody), or 422 ``dispatch_reason_required`` with the suggestion when
    the target is not the one a binding line names and no reason is given. ``platform``:
    the target platform, read with its street (``duty_for``'s ``known``)."""
    duty = duty_for(event.category, event.street_id, known=platform)
    if duty is None:
        return {}
    followed = duty.matches(platform_id=platform_id, department_id=department_id, grid_worker_id=grid_worker_id)
    entry = {"suggested": duty.label, "source": duty.source, "followed": followed}
    if not followed and duty.binding:
        if not reason.strip():
            raise ApiError("dispatch_reason_required", detail={"suggested": duty.as_dict()})
        entry["reason"] = reason.strip()
    return {"duty_list": entry}
