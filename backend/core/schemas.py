from datetime import UTC, datetime
from typing import Annotated, Any

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator


def _in_local_time(value: datetime) -> datetime:
    """A time sent to the API, as the same instant in the server's time zone
    (Asia/Shanghai, +08:00). ISO 8601 allows offsets up to ±23:59 and PostgreSQL refuses
    those beyond ±15:59 (a 500 before, found by the fuzzer); a time that UTC or local
    time cannot hold (year 1 east of Greenwich, the last hours of 9999) overflowed on the
    way to the database: now a validation error. A time without offset is local, as
    Django reads it."""
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(UTC).astimezone(timezone.get_default_timezone())
    except (OverflowError, ValueError) as error:
        raise ValueError("a time between the years 1 and 9999 in UTC and in local time") from error


# For request fields; the document still says {"type": "string", "format": "date-time"}.
InputDatetime = Annotated[datetime, AfterValidator(_in_local_time)]


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: str
    message: str
    detail: Any = None


class HealthOut(Schema):
    status: str
    checks: dict[str, str]
