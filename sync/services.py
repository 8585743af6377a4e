"""sync_push: each mutation in its own transaction with its ledger row; a replay is
answered from the ledger; one bad mutation never blocks the rest."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Device
from backend.core.errors import ApiError, register
from backend.events.services import Actor
from sync.commands import Context, keep_unapplied, parse
from sync.models import LedgerEntry, SyncDevice
from sync.schemas import MAX_BATCH, MutationIn

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1

register("upgrade_required", 426, "客户端版本过旧，请升级应用", "This app version is too old; please upgrade")
register("foreign_device", 403, "该设备不属于当前登录的设备", "The device is not the one this token was issued to")
register("batch_too_large", 413, f"一次最多提交 {MAX_BATCH} 条", f"At most {MAX_BATCH} mutations per push")
register("mutation_id_not_increasing", 422, "命令序号必须递增", "Mutation ids must increase")


def _rejected(mutation_id: int, error: ApiError, extra: dict | None = None) -> dict:
    result = {"id": mutation_id, "status": "rejected", "code": error.code, "message": error.message_en}
    if isinstance(error.detail, dict) and "state" in error.detail:
        result.update(state=error.detail["state"], allowed_steps=error.detail.get("allowed_steps"))
    if extra:
        result.update(extra)
    return result


def check_client(*, device: Device, device_id: str, protocol_version: int) -> None:
    """A too-old app gets a clear upgrade answer; a device id must be the token's."""
    if protocol_version < MIN_PROTOCOL_VERSION:
        raise ApiError("upgrade_required", detail={"min_protocol_version": MIN_PROTOCOL_VERSION,
                                                   "protocol_version": PROTOCOL_VERSION})
    if device_id != device.device_id:
        raise ApiError("foreign_device")


def sync_push(*, device: Device, device_id: str, protocol_version: int, client_time: datetime,
              mutations: list[MutationIn]) -> tuple[list[dict], SyncDevice]:
    check_client(device=device, device_id=device_id, protocol_version=protocol_version)
    if len(mutations) > MAX_BATCH:
        raise ApiError("batch_too_large", detail={"max": MAX_BATCH, "got": len(mutations)})
    now = timezone.now()
    sync_device, _ = SyncDevice.objects.get_or_create(device=device)
    offset_ms = round((now - client_time).total_seconds() * 1000)
    SyncDevice.objects.filter(pk=sync_device.pk).update(clock_offset_ms=offset_ms, protocol_version=protocol_version, last_push_at=now)
    results = []
    for mutation in mutations:
        results.append(_apply_one(device, mutation))
    sync_device.refresh_from_db()
    return results, sync_device


def _apply_one(device: Device, mutation: MutationIn) -> dict:
    actor = Actor(user=device.user, device=device, device_at=mutation.client_time)
    with transaction.atomic():
        # The device's row serialises its concurrent pushes (a retry racing the original).
        state = SyncDevice.objects.select_for_update().get(device=device)
        entry = LedgerEntry.objects.filter(device=device, mutation_id=mutation.id).first()
        if entry is not None:
            return entry.result  # exactly once: the same answer, nothing applied again
        advance = mutation.id > state.last_mutation_id
        if not advance:
            result = _rejected(mutation.id, ApiError("mutation_id_not_increasing",
                                                     detail={"last_mutation_id": state.last_mutation_id}))
        else:
            result = _run(mutation, actor, state.clock_offset_ms)
            state.last_mutation_id = mutation.id
            state.save(update_fields=["last_mutation_id"])
        LedgerEntry.objects.create(device=device, mutation_id=mutation.id, name=mutation.name, args=mutation.args,
                                   result=result, device_time=mutation.client_time)
        return result


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
