"""Key persons and places for the staff who may see them, and the visit plan:
``/api/v1/care/…``. Every answer that shows a key person's record writes the
personal-data access log (``backend.privacy``)."""

from __future__ import annotations

from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from ninja import Path, Query, Router

from backend.accounts.scope import Scope, scope_of
from backend.care import schemas
from backend.care.models import DueReason, VisitDue
from backend.care.selectors import coverage, escalated_dues, my_dues
from backend.core.errors import ApiError, register
from backend.core.labels import Labels
from backend.core.limits import RowId
from backend.core.pagination import PageParams, paginate
from backend.core.schemas import ErrorOut
from backend.patrols.access import may_see_key_subjects, q_key_subjects
from backend.patrols.models import Finding, KeySubject, SubjectKind, Visit
from backend.privacy.log import record_reads
from backend.privacy.models import SubjectKind as ReadKind

router = Router(tags=["care"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}

COVERAGE_MAX_DAYS = 400  # a year and its margins

register("key_subjects_forbidden", 403, "无权查看重点人员与场所", "You may not see key persons and places")

KIND_LABELS = Labels(SubjectKind, {SubjectKind.PERSON: "key person", SubjectKind.PLACE: "key place"})
FINDING_LABELS = Labels(
    Finding,
    {Finding.NORMAL: "all well", Finding.CONCERN: "something wrong", Finding.ABSENT: "nobody there / closed"},
)
REASON_LABELS = Labels(DueReason, {DueReason.PLAN: "planned visit", DueReason.WELFARE: "welfare check (elder alone)"})


def _key_subject_scope(request: HttpRequest) -> Scope:
    """The caller's scope, if it holds a term of the key-subject rule; else 403 for every
    route here (subjects, visits, dues, coverage)."""
    scope = scope_of(request.auth)
    if not may_see_key_subjects(scope):
        raise ApiError("key_subjects_forbidden")
    return scope


def _visible_subjects(request: HttpRequest) -> QuerySet[KeySubject]:
    scope = _key_subject_scope(request)
    last = Visit.objects.filter(subject=OuterRef("pk")).values("subject")
    due = VisitDue.objects.filter(subject=OuterRef("pk"), reason=DueReason.PLAN, fulfilled_at=None)
    return (
        KeySubject.objects.filter(q_key_subjects(scope), active=True)
        .annotate(
            last_visited_at=Subquery(last.annotate(last=Max("visited_at")).values("last")),
            next_due_at=Subquery(due.values("due_at")[:1]),
        )
        .order_by("grid_id", "kind", "pk")
    )


def access_key_subject(request: HttpRequest, subject_id: int) -> KeySubject:
    """The key subject if the user may see it, else 404 (403 for a role that sees none)."""
    subject = _visible_subjects(request).filter(pk=subject_id).first()
    if subject is None:
        raise ApiError("key_subject_not_found")
    return subject


def _subject_out(subject: KeySubject) -> dict:
    return {
        "id": subject.pk,
        "grid_id": subject.grid_id,
        "kind": subject.kind,
        "kind_label": KIND_LABELS[subject.kind],
        "name": subject.name,
        "address_text": subject.address_text,
        "attention": subject.attention,
        "visit_every_days": subject.visit_every_days,
        "note": subject.note,
        "last_visited_at": subject.last_visited_at,
        "next_due_at": subject.next_due_at,
    }


def _log_person_reads(request: HttpRequest, subjects: list[KeySubject], endpoint: str) -> None:
    persons = [s.pk for s in subjects if s.kind == SubjectKind.PERSON]
    record_reads(request.auth, ReadKind.KEY_PERSON, persons, endpoint, fields="name,address_text,note")


@router.get(
    "/care/subjects", response={200: schemas.KeySubjectPage, **ERRORS}, summary="重点人员与场所 Key persons and places"
)
def subject_list(request: HttpRequest, params: Query[schemas.SubjectParams]):
    subjects = _visible_subjects(request)
    if params.grid_id is not None:
        subjects = subjects.filter(grid_id=params.grid_id)
    if params.kind is not None:
        subjects = subjects.filter(kind=params.kind)
    page = paginate(subjects, page=params.page, page_size=params.page_size)
    _log_person_reads(request, page["items"], "GET /api/v1/care/subjects")
    return {**page, "items": [_subject_out(s) for s in page["items"]]}


@router.get(
    "/care/subjects/{subject_id}",
    response={200: schemas.KeySubjectOut, **ERRORS},
    summary="重点人员或场所详情 A key person or place",
)
def subject_detail(request: HttpRequest, subject_id: Path[RowId]):
    subject = access_key_subject(request, subject_id)
    _log_person_reads(request, [subject], "GET /api/v1/care/subjects/{id}")
    return _subject_out(subject)


@router.get(
    "/care/subjects/{subject_id}/visits",
    response={200: schemas.VisitPage, **ERRORS},
    summary="走访记录 Visits to a key person or place",
)
def subject_visits(request: HttpRequest, subject_id: Path[RowId], params: Query[PageParams]):
    subject = access_key_subject(request, subject_id)
    _log_person_reads(request, [subject], "GET /api/v1/care/subjects/{id}/visits")
    page = paginate(subject.visits.order_by("-visited_at", "pk"), page=params.page, page_size=params.page_size)
    return {
        **page,
        "items": [
            {
                "id": v.pk,
                "subject_id": v.subject_id,
                "user_id": v.user_id,
                "visited_at": v.visited_at,
                "finding": v.finding,
                "finding_label": FINDING_LABELS[v.finding],
                "note": v.note,
                "photos": v.photos,
            }
            for v in page["items"]
        ],
    }


def _due_out(due: VisitDue, now) -> dict:
    return {
        "id": due.pk,
        "subject_id": due.subject_id,
        "subject_name": due.subject.name,
        "subject_kind": due.subject.kind,
        "grid_id": due.subject.grid_id,
        "reason": due.reason,
        "reason_label": REASON_LABELS[due.reason],
        "priority": due.priority,
        "due_at": due.due_at,
        "overdue": due.due_at < now,
        "notified_at": due.notified_at,
        "escalated_at": due.escalated_at,
        "note": due.note,
    }


def _dues_page(request: HttpRequest, dues: QuerySet[VisitDue], params: PageParams, endpoint: str) -> dict:
    page = paginate(dues, page=params.page, page_size=params.page_size)
    _log_person_reads(request, [due.subject for due in page["items"]], endpoint)
    now = timezone.now()
    return {**page, "items": [_due_out(due, now) for due in page["items"]]}


@router.get("/care/dues", response={200: schemas.DuePage, **ERRORS}, summary="待走访 The grid worker's due visits")
def dues_mine(request: HttpRequest, params: Query[PageParams]):
    return _dues_page(request, my_dues(_key_subject_scope(request)), params, "GET /api/v1/care/dues")


@router.get(
    "/care/dues/escalated",
    response={200: schemas.DuePage, **ERRORS},
    summary="超期走访 Overdue visits passed to the secretary",
)
def dues_escalated(request: HttpRequest, params: Query[PageParams]):
    return _dues_page(request, escalated_dues(_key_subject_scope(request)), params, "GET /api/v1/care/dues/escalated")


def _row(key, figures) -> dict:
    return {
        "key": str(key),
        "due": figures.due,
        "on_time": figures.on_time,
        "late": figures.late,
        "missing": figures.missing,
        "rate": figures.rate,
    }


@router.get("/care/coverage", response={200: schemas.CoverageOut, **ERRORS}, summary="走访覆盖率 Visit coverage")
def coverage_report(request: HttpRequest, params: Query[schemas.CoverageParams]):
    scope = _key_subject_scope(request)
    if params.end <= params.start or (params.end - params.start).days > COVERAGE_MAX_DAYS:
        raise ApiError("validation_error", detail={"end": f"after start, at most {COVERAGE_MAX_DAYS} days"})
    report = coverage(start=params.start, end=params.end, scope=scope, now=timezone.now())
    return {
        "start": report.start,
        "end": report.end,
        "total": _row("total", report.total),
        "by_grid": [_row(k, v) for k, v in sorted(report.by_grid.items())],
        "by_worker": [_row(k, v) for k, v in sorted(report.by_worker.items())],
        "by_kind": [_row(k, v) for k, v in sorted(report.by_kind.items())],
    }
