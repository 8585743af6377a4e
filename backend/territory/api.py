from django.http import HttpRequest
from ninja import Path, Query, Router

from backend.core.limits import RowId
from backend.core.pagination import PageParams, paginate
from backend.core.schemas import ErrorOut
from backend.territory import schemas
from backend.territory.selectors import access_grid, communities_visible_to, grids_visible_to

router = Router(tags=["territory"])
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get(
    "/communities", response={200: list[schemas.CommunityOut], **ERRORS}, summary="辖区内社区 Communities in scope"
)
def community_list(request: HttpRequest):
    return list(communities_visible_to(request.auth))


@router.get("/grids", response={200: schemas.GridPage, **ERRORS}, summary="辖区内网格 Grids in scope")
def grid_list(request: HttpRequest, paging: Query[PageParams]):
    return paginate(grids_visible_to(request.auth), page=paging.page, page_size=paging.page_size)


@router.get("/grids/{grid_id}", response={200: schemas.GridDetailOut, **ERRORS}, summary="网格详情 One grid")
def grid_detail(request: HttpRequest, grid_id: Path[RowId]):
    return access_grid(request.auth, grid_id)
