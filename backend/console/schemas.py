from ninja import Schema


class MapGridOut(Schema):
    id: int
    code: str
    name: str
    community_id: int
    polygon: dict


class MapOut(Schema):
    grids: list[MapGridOut]


class ChainOut(Schema):
    length: int
    verified: bool
    problems: list[str]
