from django.http import HttpRequest
from ninja import Router

from backend.core.schemas import ErrorOut
from sync.schemas import PushIn, PushOut
from sync.services import sync_push

router = Router(tags=["sync"])


@router.post("/sync/push", response={200: PushOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut, 426: ErrorOut},
             summary="推送离线命令 Push offline mutations (exactly once)")
def push(request: HttpRequest, payload: PushIn):
    results, state = sync_push(device=request.device, device_id=payload.device_id, protocol_version=payload.protocol_version,
                               client_time=payload.client_time, mutations=payload.mutations)
    return {"results": results, "last_mutation_id": state.last_mutation_id, "clock_offset_ms": state.clock_offset_ms}
