import orjson
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router

from backend.accounts.actor import Actor
from backend.core.db_router import reads_may_lag
from backend.core.limits import RowId
from backend.core.pagination import PageParams, paginate
from backend.core.runtime import gc_paused
from backend.core.schemas import ErrorOut
from backend.core.times import wire_default
from backend.ops.metrics import record_sync_pull, record_sync_push
from sync.conflicts import access_conflict, conflict_resolve, conflicts_visible_to
from sync.pull import render_page, sync_pull
from sync.schemas import ConflictOut, ConflictPage, PullIn, PullOut, PushIn, PushOut, ResolveIn
from sync.services import check_client, sync_push

router = Router(tags=["sync"])


@router.post(
    "/sync/push",
    response={200: PushOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut, 426: ErrorOut},
    summary="推送离线命令 Push offline mutations (exactly once)",
)
def push(request: HttpRequest, payload: PushIn):
    with gc_paused():
        results, state = sync_push(
            device=request.device,
            device_id=payload.device_id,
            protocol_version=payload.protocol_version,
            client_time=payload.client_time,
            mutations=payload.mutations,
        )
        record_sync_push(results)
        # Written directly, like pull pages: checking a hundred results against PushOut
        # cost more than applying ten reports (tests check every answer against it).
        return HttpResponse(
            orjson.dumps({"results": results, **state}, default=wire_default, option=orjson.OPT_PASSTHROUGH_DATETIME),
            content_type="application/json",
        )


@router.post(
    "/sync/pull",
    response={200: PullOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut, 426: ErrorOut},
    summary="拉取本人范围内的变更 Pull the changes of my scope since a cursor",
)
@reads_may_lag
def pull(request: HttpRequest, payload: PullIn):
    check_client(device=request.device, device_id=payload.device_id, protocol_version=payload.protocol_version)
    with gc_paused():
        page = sync_pull(
            user=request.auth,
            device=request.device,
            cursor=payload.cursor,
            limit=payload.limit,
            pending_mutation_id=payload.pending_mutation_id,
        )
        record_sync_pull(len(page["changes"]))
        # Pages are large: written directly, serialised once (tests check every page against PullOut).
        return HttpResponse(render_page(page, payload.protocol_version), content_type="application/json")


CONFLICT_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.get(
    "/sync/conflicts",
    response={200: ConflictPage, **CONFLICT_ERRORS},
    summary="离线修改冲突 Conflicts of offline edits in my territory",
)
def conflict_list(request: HttpRequest, paging: Query[PageParams], status: str | None = "open"):
    return paginate(conflicts_visible_to(request.auth, status or None), page=paging.page, page_size=paging.page_size)


@router.post(
    "/sync/conflicts/{conflict_id}/resolve",
    response={200: ConflictOut, **CONFLICT_ERRORS},
    summary="处理冲突 Resolve a conflict: keep the server's value, the phone's, or another",
)
def conflict_resolve_route(request: HttpRequest, conflict_id: Path[RowId], payload: ResolveIn):
    with transaction.atomic():
        conflict = access_conflict(request.auth, conflict_id, lock=True)
        return conflict_resolve(
            conflict=conflict,
            actor=Actor(user=request.auth, device=request.device),
            keep=payload.keep,
            value=payload.value,
            note=payload.note,
        )
