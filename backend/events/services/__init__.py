"""Writes for events, by what they do: ``reporting`` (受理: one report or a phone's
batch), ``steps`` (the closed loop after it), ``photos`` (references and custody rows),
``numbering`` (event numbers) and ``recording`` (how any of them writes its history row).

The names below are the package's public surface; callers import from here.
"""

from backend.accounts.actor import Actor
from backend.events.services.numbering import NUMBER_PREFIX, next_event_number, next_event_numbers
from backend.events.services.photos import (
    PHOTO_DIGEST,
    Evidence,
    Photos,
    evidence_of,
    evidence_overdue,
    evidence_settle,
    evidence_wait,
    photo_digest,
    photos_resolve,
    record_photo,
    require_evidence,
)
from backend.events.services.recording import NOTE_LIMIT, grace_period, system_record, tell_about
from backend.events.services.reporting import (
    GRID_WITH_COMMUNITY,
    REPORTABLE_CATEGORY,
    SOURCES_BY_ROLE,
    Lookups,
    PreparedReport,
    ReportOutcome,
    event_report,
    event_report_batch,
    event_report_many,
    prepare_report,
)
from backend.events.services.steps import (
    EDITABLE_FIELDS,
    HOLDER_FIELDS,
    DispatchTarget,
    check_editable,
    event_accept,
    event_approve,
    event_comment,
    event_decide_extension,
    event_decide_park,
    event_dispatch,
    event_edit,
    event_escalate,
    event_evaluate,
    event_handle,
    event_merge,
    event_reject,
    event_reopen,
    event_request_extension,
    event_request_park,
    event_return,
    event_rework,
    event_sign,
    event_unpark,
    event_urge,
    record_unapplied_step,
)
