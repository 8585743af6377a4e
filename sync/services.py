"""sync_push: each mutation in a transaction with its ledger row (a run of reports
in one); a replay is answered from the ledger; one bad mutation never blocks the rest."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from backend.accounts.models import Device
from backend.core.errors import ApiError, register
from backend.events.services import Actor, event_report_batch
from backend.fastpath.bulk import insert_rows
from sync.commands import REPORT, Context, event_data, keep_unapplied, parse, report_fields
from sync.models import LedgerEntry, SyncDevice
from sync.schemas import MAX_BATCH, MutationIn

PROTOCOL_VERSION = 2  # 2: pages carry a CRC-32 checksum (docs/sync.md, "Versions")
LEDGER_COLUMNS = ("device_id", "mutation_id", "name", "args", "result", "device_time", "created_at")
MIN_PROTOCOL_VERSION = 1

register("upgrade_required", 426, "客户端版本过旧，请升级应用", "This app version is too old; please upgrade")
register("foreign_device", 403, "该设备不属于当前登录的设备", "The device is not the one this token was issued to")
register("batch_too_large", 413, f"一次最多提交 {MAX_BATCH} 条", f"At most {MAX_BATCH} mutations per push")
register("mutation_id_not_increasing", 422, "命令序号必须递增", "Mutation ids must increase")


# A push's statements about its device, in plain SQL: through the ORM they cost
# more than the database's part of them.
DEVICES = connection.ops.quote_name(SyncDevice._meta.db_table)


def _locked_last_mutation_id(device: Device) -> int:
    """The device's last mutation id, its row locked until the push commits: a retry
    racing its original waits here. The device's first push makes its row."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT last_mutation_id FROM {DEVICES} WHERE device_id = %s{lock}", [device.pk])
            row = cursor.fetchone()
        if row is not None:
            return row[0]
        SyncDevice.objects.get_or_create(device=device)  # a concurrent first push may make it meanwhile
    raise AssertionError("the device's sync row was not made")


def _rejected(mutation_id: int, error: ApiError, extra: dict | None = None) -> dict:
    result = {"id": mutation_id, "status": "rejected", "code": error.code, "message": error.message_en}
    if isinstance(error.detail, dict) and "state" in error.detail:
        result.update(state=error.detail["state"], allowed_steps=error.detail.get("allowed_steps"))
    elif isinstance(error.detail, dict | list) and error.detail:
        result["detail"] = error.detail  # which fields were wrong, the known mutations…, as REST says
    if extra:
        result.update(extra)
    return result


def check_client(*, device: Device, device_id: str, protocol_version: int) -> None:
    """A too-old app gets a clear upgrade answer; a device id must be the token's."""
    if protocol_version < MIN_PROTOCOL_VERSION:
        raise ApiError(
            "upgrade_required",
            detail={"min_protocol_version": MIN_PROTOCOL_VERSION, "protocol_version": PROTOCOL_VERSION},
        )
    if device_id != device.device_id:
        raise ApiError("foreign_device")


def sync_push(
    *, device: Device, device_id: str, protocol_version: int, client_time: datetime, mutations: list[MutationIn]
) -> tuple[list[dict], dict]:
    """The results, and the device's state after them (``last_mutation_id``,
    ``clock_offset_ms``)."""
    check_client(device=device, device_id=device_id, protocol_version=protocol_version)
    if len(mutations) > MAX_BATCH:
        raise ApiError("batch_too_large", detail={"max": MAX_BATCH, "got": len(mutations)})
    now = timezone.now()
    offset_ms = round((now - client_time).total_seconds() * 1000)
    device_state = [offset_ms, protocol_version, connection.ops.adapt_datetimefield_value(now), device.pk]
    results: list[dict] = []
    applied = None
    position = 0
    # A run of reports is one transaction, a step or an edit one each (they lock
    # existing events: grouping them could deadlock two phones editing the same events
    # in turn). Each begins by locking the device's row (a retry racing its original
    # waits there, then is answered from the ledger) and ends by writing it, so a push of
    # reports is one durable commit.
    while applied is None or position < len(mutations):
        with transaction.atomic():
            applied = _locked_last_mutation_id(device)
            run = _report_run(mutations, position)
            if run:
                answers, applied = _apply_reports(device, run, applied, device_state)
                results.extend(answers)
                position += len(run)
            else:
                if position < len(mutations):
                    answer, applied = _apply_one(device, mutations[position], applied, offset_ms)
                    results.append(answer)
                    position += 1
                _write_device(applied, device_state)
    return results, {"last_mutation_id": applied, "clock_offset_ms": offset_ms}


def _write_device(applied: int, device_state: list) -> None:
    """The device's last mutation id, clock offset, protocol and time of this push."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {DEVICES} SET last_mutation_id = %s, clock_offset_ms = %s, protocol_version = %s, "
            "last_push_at = %s WHERE device_id = %s",
            [applied, *device_state],
        )


def _report_run(mutations: list[MutationIn], start: int) -> list[MutationIn]:
    """Consecutive new-event reports from ``start`` (one or more): they touch no
    existing event, so they are applied together (the benchmark's 3,000 mutations/s
    come from here), and a single report takes the same path as a run of them."""
    end = start
    while end < len(mutations) and mutations[end].name == REPORT:
        end += 1
    return mutations[start:end]


def _replayed(device: Device, ids: set[int], applied: int) -> dict[int, dict]:
    """The ledger's answers to those of ``ids`` it holds. Only an id up to the device's
    last applied one can be there (every ledger row's id is at most it), so a push of
    new mutations asks nothing."""
    candidates = {mutation_id for mutation_id in ids if mutation_id <= applied}
    if not candidates:
        return {}
    return {e.mutation_id: e.result for e in LedgerEntry.objects.filter(device=device, mutation_id__in=candidates)}


def _apply_reports(device: Device, run: list[MutationIn], applied: int, device_state: list) -> tuple[list[dict], int]:
    """A run of ``event.report`` mutations, in one transaction: each is checked
    on its own (one bad report is rejected, the rest apply) by ``event_report_batch``,
    the path of a REST report too, then saved in bulk with their ledger rows. Returns
    the answers and the device's last mutation id after them, which is written to
    the device's row before the reports are saved: it is known by then, and what
    follows the events' numbering holds the year's counter row locked (every
    report in the district waits for it)."""
    user = device.user
    answered = _replayed(device, {m.id for m in run}, applied)
    parsed = {}
    for mutation in run:
        if mutation.id not in answered and mutation.id not in parsed:
            try:
                parsed[mutation.id] = parse(mutation.name, mutation.args)[1]
            except ApiError as error:
                parsed[mutation.id] = error
    results: dict[int, dict | None] = {}
    to_report: dict[int, tuple[Actor, dict]] = {}
    last = applied
    for mutation in run:
        if mutation.id in answered or mutation.id in results:
            continue  # in the ledger already, or sent twice in this batch: one answer
        args = parsed[mutation.id]
        if mutation.id <= last:
            result = _rejected(mutation.id, ApiError("mutation_id_not_increasing", detail={"last_mutation_id": last}))
        elif isinstance(args, ApiError):
            result = _rejected(mutation.id, args)
        else:
            actor = Actor(user=user, device=device, device_at=mutation.client_time)
            to_report[mutation.id] = (actor, report_fields(args))
            result = None
        if mutation.id > last:
            last = mutation.id
        results[mutation.id] = result
    _write_device(last, device_state)
    # The same path as a REST report (a batch of one there).
    outcomes = event_report_batch(reports=list(to_report.values()))
    for mutation_id, outcome in zip(to_report, outcomes):
        results[mutation_id] = (
            _rejected(mutation_id, outcome)
            if isinstance(outcome, ApiError)
            else {"id": mutation_id, "status": "applied", "data": event_data(outcome[0])}
        )
    new_rows = []
    now = timezone.now()
    for mutation in run:
        if mutation.id not in answered:  # one ledger row per id, the first occurrence's
            answered[mutation.id] = results[mutation.id]
            new_rows.append(
                (
                    device.pk,
                    mutation.id,
                    mutation.name,
                    mutation.args,
                    results[mutation.id],
                    mutation.client_time,
                    now,
                )
            )
    insert_rows(LedgerEntry, LEDGER_COLUMNS, new_rows)
    return [answered[m.id] for m in run], last


def _apply_one(device: Device, mutation: MutationIn, applied: int, clock_offset_ms: int) -> tuple[dict, int]:
    """One mutation other than a report, in its own transaction (its command in a
    savepoint, so a refused one leaves nothing but its ledger row); the answer and the
    device's last mutation id after it."""
    actor = Actor(user=device.user, device=device, device_at=mutation.client_time)
    replayed = _replayed(device, {mutation.id}, applied)
    if replayed:
        return replayed[mutation.id], applied  # exactly once: the same answer, nothing applied again
    if mutation.id <= applied:
        result = _rejected(mutation.id, ApiError("mutation_id_not_increasing", detail={"last_mutation_id": applied}))
    else:
        result = _run(mutation, actor, clock_offset_ms)
        applied = mutation.id
    LedgerEntry.objects.create(
        device=device,
        mutation_id=mutation.id,
        name=mutation.name,
        args=mutation.args,
        result=result,
        device_time=mutation.client_time,
    )
    return result, applied


def _run(mutation: MutationIn, actor: Actor, clock_offset_ms: int | None) -> dict:
    try:
        command, args = parse(mutation.name, mutation.args)
    except ApiError as error:
        return _rejected(mutation.id, error)
    context = Context(mutation_id=mutation.id, base_version=mutation.base_version, clock_offset_ms=clock_offset_ms)
    try:
        with transaction.atomic():  # a savepoint: a refused command leaves nothing behind
            status, data = command.run(args, actor, context)
    except ApiError as error:
        return _rejected(mutation.id, error, keep_unapplied(command, args, actor, error))
    return {"id": mutation.id, "status": status, "data": data}
