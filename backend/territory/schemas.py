from ninja import Field, Schema


class CommunityOut(Schema):
    id: int
    code: str
    name: str
    street_id: int
    street_name: str = Field(..., alias="street.name")


class GridOut(Schema):
    id: int
    code: str
    name: str
    community_id: int
    community_name: str = Field(..., alias="community.name")
    street_id: int = Field(..., alias="community.street_id")


class GridDetailOut(GridOut):
    polygon: dict


class GridPage(Schema):
    items: list[GridOut]
    page: int
    page_size: int
    has_more: bool
    total: int = Field(..., description="总数（超过 1000 时为 1000，total_exact 为 false）")
    total_exact: bool
