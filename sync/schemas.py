from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel

from backend.core.limits import (
    BIGINT_MAX,
    INSTANT_RANGE,
    INT_MAX,
    SMALLINT_MAX,
    Instant,
    in_local_time,
    within_range,
)

MAX_BATCH = 100
# The columns these are kept in: a larger number is a validation error, not a database one.
PROTOCOL_MAX = SMALLINT_MAX


def _claim(value: datetime | None) -> datetime | None:
    """A mutation's time is only the device's claim, recorded beside the server's. One
    outside the range a time can be stored in is dropped rather than refused: it stays
    in the phone's queue as it is, and refusing it would refuse the whole push, for ever."""
    return in_local_time(value) if value is not None and within_range(value) else None


# Plain pydantic, the push's body and its mutations: ninja's ``Schema`` runs a
# Django-object validator on each of a hundred mutations, which cost more than applying
# ten reports (the OpenAPI document is the same).
class MutationIn(BaseModel):
    id: int = Field(..., ge=1, le=BIGINT_MAX, description="device-unique, increasing")
    name: str = Field(..., max_length=48, description="the command, e.g. event.report, event.sign")
    args: dict[str, Any] = Field(default_factory=dict)
    base_version: int | None = Field(None, ge=0, le=INT_MAX)
    client_time: Annotated[datetime | None, AfterValidator(_claim)] = Field(
        None,
        description="the device's clock when the mutation was made (outside the range: not kept, null)",
        json_schema_extra=INSTANT_RANGE,
    )


class PushIn(BaseModel):  # plain pydantic: see MutationIn
    device_id: str = Field(..., min_length=4, max_length=128)
    protocol_version: int = Field(..., ge=0, le=PROTOCOL_MAX)
    client_time: Instant = Field(..., description="the device's clock when it sent this push")
    mutations: list[MutationIn] = Field(..., max_length=10_000)


class MutationResult(Schema):
    id: int
    status: str = Field(..., description="applied | merged | conflict | rejected")
    code: str | None = None
    message: str | None = None
    state: str | None = None
    allowed_steps: list[str] | None = None
    kept: str | None = Field(
        None,
        description="a rejected step's note, photo references or values: history (a comment row of the event) | "
        "ledger (only in this device's ledger: the user may not comment on the event)",
    )
    data: dict[str, Any] | None = None
    detail: dict[str, Any] | list[dict[str, Any]] | None = Field(
        None, description="a rejection's detail: the fields of invalid_arguments ({loc, type, msg}), …"
    )


class PushOut(Schema):
    results: list[MutationResult]
    last_mutation_id: int
    clock_offset_ms: int


class PullIn(Schema):
    device_id: str = Field(..., min_length=4, max_length=128)
    protocol_version: int = Field(..., ge=0, le=PROTOCOL_MAX)
    cursor: str | None = Field(
        None, max_length=4096, description="null: start a full resync; otherwise the last page's cursor"
    )
    limit: int = Field(500, ge=1, le=1000, description="log rows per page")
    pending_mutation_id: int = Field(
        0, ge=0, le=BIGINT_MAX, description="the highest mutation id still queued on the phone (0: none)"
    )


class ChangeOut(Schema):
    kind: str = Field(..., description="category | street | community | grid | event | key_subject | patrol | visit")
    id: str
    op: str = Field(..., description="upsert | delete")
    data: dict[str, Any] | None = None


class DropOut(Schema):
    kind: str
    id: str


class PullOut(Schema):
    changes: list[ChangeOut]
    cursor: str | None = Field(..., description="send it with the next pull; null together with reset")
    has_more: bool
    checksum: str = Field(
        ..., description="of the canonical JSON of changes: crc32:<8 hex> (protocol 2), SHA-256 hex (protocol 1)"
    )
    reset: str | None = Field(
        None, description="unknown_cursor | foreign_cursor | expired_cursor: drop the cursor and pull from null"
    )
    drop: list[DropOut] = Field(default_factory=list, description="entities to forget: the scope shrank")
    push_first: bool = Field(False, description="push the pending mutations, then pull again")
    server_time: datetime


class ConflictOut(Schema):
    id: int
    event_id: str
    event_number: str
    field: str
    base_version: int
    base_value: Any = None
    server_value: Any = None
    phone_value: Any = None
    user: str = Field(..., description="who made the phone's edit")
    mutation_id: int | None = None
    status: str
    resolution: str
    resolved_value: Any = None
    created_at: datetime
    resolved_at: datetime | None = None

    @staticmethod
    def resolve_event_id(conflict) -> str:
        return str(conflict.event_id)

    @staticmethod
    def resolve_event_number(conflict) -> str:
        return conflict.event.number

    @staticmethod
    def resolve_user(conflict) -> str:
        return conflict.user.username


class ConflictPage(Schema):
    items: list[ConflictOut]
    page: int
    page_size: int
    has_more: bool
    total: int = Field(..., description="总数（超过 1000 时为 1000，total_exact 为 false）")
    total_exact: bool


class ResolveIn(Schema):
    keep: str = Field(
        ...,
        pattern="^(server|phone|value)$",
        description="server: keep the server's value; phone: take the phone's; value: a third value",
    )
    value: Any = Field(None, description="with keep=value")
    note: str = Field("", max_length=2000)
