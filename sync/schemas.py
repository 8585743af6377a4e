from datetime import datetime
from typing import Any

from ninja import Field, Schema

MAX_BATCH = 100


class MutationIn(Schema):
    id: int = Field(..., ge=1, description="device-unique, increasing")
    name: str = Field(..., max_length=48, description="the command, e.g. event.report, event.sign")
    args: dict[str, Any] = Field(default_factory=dict)
    base_version: int | None = None
    client_time: datetime | None = Field(None, description="the device's clock when the mutation was made")


class PushIn(Schema):
    device_id: str = Field(..., min_length=4, max_length=128)
    protocol_version: int = Field(..., ge=0)
    client_time: datetime = Field(..., description="the device's clock when it sent this push")
    mutations: list[MutationIn] = Field(..., max_length=10_000)


class MutationResult(Schema):
    id: int
    status: str  # applied | rejected (merged and conflict come with field edits)
    code: str | None = None
    message: str | None = None
    state: str | None = None
    allowed_steps: list[str] | None = None
    data: dict[str, Any] | None = None


class PushOut(Schema):
    results: list[MutationResult]
    last_mutation_id: int
    clock_offset_ms: int
