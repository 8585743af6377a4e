import pytest
from django.contrib.admin.models import CHANGE

from backend.accounts.models import User
from backend.core.audit import audit_change, audit_trail
from backend.events.models import Category
from backend.privacy.log import reads_of, record_reads
from backend.privacy.models import SubjectKind

pytestmark = pytest.mark.django_db


def test_reads_are_recorded_once_per_subject_and_listed_newest_first():
    reader = User.objects.get(username="demo_dispatcher")
    resident = User.objects.get(username="demo_resident")
    assert record_reads(reader, SubjectKind.RESIDENT, [resident.pk, resident.pk, None], "GET /api/v1/events/{id}") == 1
    record_reads(reader, SubjectKind.RESIDENT, [resident.pk], "GET /api/v1/events", fields="phone")
    reads = list(reads_of(SubjectKind.RESIDENT, resident.pk))
    assert [r.endpoint for r in reads] == ["GET /api/v1/events", "GET /api/v1/events/{id}"]
    assert all(r.reader == reader for r in reads)
    assert reads_of(SubjectKind.KEY_PERSON, resident.pk).count() == 0


def test_nothing_to_record_writes_nothing():
    reader = User.objects.get(username="demo_dispatcher")
    assert record_reads(reader, SubjectKind.RESIDENT, [], "GET /x") == 0
    assert reads_of(SubjectKind.RESIDENT, "").count() == 0


def test_audit_change_lands_in_the_admin_history_with_who_and_details():
    admin = User.objects.get(username="demo_admin")
    category = Category.objects.get(code="06.01")
    entry = audit_change(admin, category, "change", "时限改为 2 工作日", deadline_amount=2)
    trail = list(audit_trail(category))
    assert trail[0] == entry
    assert entry.user == admin and entry.action_flag == CHANGE
    assert '"deadline_amount": 2' in entry.change_message


@pytest.mark.parametrize("count", [1, 3])
def test_the_written_once_insert_stores_what_the_orms_bulk_create_stores(count):
    """``record_reads`` (a statement written once per count of rows) stores the rows
    ``record_reads_orm`` stores: the same columns, the time within the call."""
    from django.utils import timezone

    from backend.privacy.log import record_reads_orm
    from backend.privacy.models import PersonalDataRead

    reader = User.objects.get(username="demo_dispatcher")
    subjects = [f"s-{n}" for n in range(count)]
    columns = ("reader_id", "subject_kind", "subject_id", "endpoint", "fields")
    written = {}
    for way, record in (("plain", record_reads), ("orm", record_reads_orm)):
        before = timezone.now()
        assert record(reader, SubjectKind.RESIDENT, [*subjects, subjects[0]], f"GET /{way}", fields="phone") == count
        rows = PersonalDataRead.objects.filter(endpoint=f"GET /{way}").order_by("subject_id")
        assert all(before <= row.at <= timezone.now() for row in rows)
        written[way] = [tuple(getattr(row, c) for c in columns if c != "endpoint") for row in rows]
    assert written["plain"] == written["orm"] and len(written["plain"]) == count
