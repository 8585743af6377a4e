"""Write and read the access log of personal data (see models.PersonalDataRead)."""

from __future__ import annotations

from collections.abc import Iterable

from backend.privacy.models import PersonalDataRead, SubjectKind


def record_reads(reader, kind: SubjectKind | str, subject_ids: Iterable, endpoint: str, fields: str = "") -> int:
    """Record that ``reader`` read the personal data of each subject, in one statement.

    Call it from the endpoint that shows the data, with the endpoint's route as
    ``endpoint`` (for example ``"GET /api/v1/events/{id}"``). Repeated ids count once."""
    ids = sorted({str(i) for i in subject_ids if i is not None})
    if not ids:
        return 0
    PersonalDataRead.objects.bulk_create(
        [
            PersonalDataRead(reader_id=reader.pk, subject_kind=kind, subject_id=i, endpoint=endpoint, fields=fields)
            for i in ids
        ]
    )
    return len(ids)


def reads_of(kind: SubjectKind | str, subject_id):
    """Who read this person's data, newest first."""
    return PersonalDataRead.objects.filter(subject_kind=kind, subject_id=str(subject_id)).select_related("reader")
