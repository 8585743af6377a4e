from typing import Literal

from ninja import Field, Schema


class SearchParams(Schema):
    q: str = Field(..., min_length=1, max_length=200, description="地址（可含全角数字、中文数字、幢/栋/号楼/座等写法）")
    limit: int = Field(20, ge=1, le=50)


class AddressHit(Schema):
    id: int = Field(..., description="地址库条目编号：居民爆料的 address_id The entry's id: a tip's address_id")
    kind: str
    code: str
    text: str
    standard: str
    source: str
    lat: float
    lng: float
    grid_id: int


class LocateParams(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lng: float = Field(..., ge=-180, le=180)
    crs: Literal["wgs84", "gcj02"]


class UnitRef(Schema):
    id: int
    code: str
    name: str


class NearBuilding(Schema):
    code: str
    address: str
    lat: float
    lng: float
    distance_m: float


class LocateOut(Schema):
    lat: float
    lng: float
    inside: bool
    message: str
    grid: UnitRef | None
    community: UnitRef | None
    street: UnitRef | None
    nearest_buildings: list[NearBuilding]
