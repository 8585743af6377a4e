"""Two reads the console needs that the phones' API did not have yet. Both go through
the same permission functions as every other read (``grids_visible_to``, ``access_event``):
nothing here decides who may see what."""

import uuid

from django.http import HttpRequest
from ninja import Router

from backend.console import schemas
from backend.core.schemas import ErrorOut
from backend.events.history import verify_chain
from backend.events.selectors import access_event
from backend.territory.selectors import grids_visible_to

router = Router(tags=["console"])
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get(
    "/map",
    response={200: schemas.MapOut, **ERRORS},
    summary="辖区网格地图（网格边界）The grids in scope with their polygons",
)
def console_map(request: HttpRequest):
    grids = grids_visible_to(request.auth).select_related(None).only("id", "code", "name", "community_id", "polygon")
    return {"grids": list(grids)}


@router.get(
    "/events/{event_id}/chain",
    response={200: schemas.ChainOut, **ERRORS},
    summary="核验操作记录哈希链 Verify the event's hash chain",
)
def event_chain(request: HttpRequest, event_id: uuid.UUID):
    event = access_event(request.auth, event_id)
    problems = verify_chain(event)
    return {"length": event.action_count, "verified": not problems, "problems": problems}
