from django.http import HttpRequest
from ninja import Query, Router

from backend.addresses import schemas
from backend.addresses.selectors import locate, search_addresses
from backend.core.schemas import ErrorOut

router = Router(tags=["addresses"])
ERRORS = {401: ErrorOut, 422: ErrorOut}


@router.get(
    "/addresses/search", response={200: list[schemas.AddressHit], **ERRORS}, summary="地址搜索 Search addresses"
)
def address_search(request: HttpRequest, params: Query[schemas.SearchParams]):
    return search_addresses(request.auth, params.q, limit=params.limit)


@router.get(
    "/geo/locate",
    response={200: schemas.LocateOut, **ERRORS},
    tags=["geo"],
    summary="点位所在网格 Which grid a point falls in",
)
def geo_locate(request: HttpRequest, params: Query[schemas.LocateParams]):
    return locate(lat=params.lat, lng=params.lng, crs=params.crs)
