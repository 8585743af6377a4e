import json

from django.http import HttpRequest, HttpResponse
from ninja import Router

from backend.core.schemas import ErrorOut
from sync.pull import sync_pull
from sync.schemas import PullIn, PullOut, PushIn, PushOut
from sync.services import check_client, sync_push

router = Router(tags=["sync"])


@router.post("/sync/push", response={200: PushOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut, 426: ErrorOut},
             summary="推送离线命令 Push offline mutations (exactly once)")
def push(request: HttpRequest, payload: PushIn):
    results, state = sync_push(device=request.device, device_id=payload.device_id, protocol_version=payload.protocol_version,
                               client_time=payload.client_time, mutations=payload.mutations)
    return {"results": results, "last_mutation_id": state.last_mutation_id, "clock_offset_ms": state.clock_offset_ms}


@router.post("/sync/pull", response={200: PullOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut, 426: ErrorOut},
             summary="拉取本人范围内的变更 Pull the changes of my scope since a cursor")
def pull(request: HttpRequest, payload: PullIn):
    check_client(device=request.device, device_id=payload.device_id, protocol_version=payload.protocol_version)
    page = sync_pull(user=request.auth, device=request.device, cursor=payload.cursor, limit=payload.limit,
                     pending_mutation_id=payload.pending_mutation_id)
    # Pages are large and already plain JSON: written directly rather than validated
    # again (tests check them against PullOut).
    return HttpResponse(json.dumps(page, ensure_ascii=False, separators=(",", ":")), content_type="application/json")

