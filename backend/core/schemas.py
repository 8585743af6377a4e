from datetime import UTC, datetime
from typing import Annotated, Any

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator


def _in_utc(value: datetime) -> datetime:
    """A time sent to the API, converted to UTC here. ISO 8601 allows offsets up to
    ±23:59 and PostgreSQL refuses those beyond ±15:59 (a 500 before, found by the
    fuzzer): in UTC any offset is stored. A time UTC cannot hold (year 1 east of
    Greenwich, the last day of 9999 west of it) is a validation error instead of an
    overflow on the way to the database. A time without offset is local
    (Asia/Shanghai), as Django reads it."""
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        raise ValueError("a time that UTC can represent") from error


# For request fields; the document still says {"type": "string", "format": "date-time"}.
InputDatetime = Annotated[datetime, AfterValidator(_in_utc)]


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: str
    message: str
    detail: Any = None


class HealthOut(Schema):
    status: str
    checks: dict[str, str]
