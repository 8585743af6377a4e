"""Every timestamp in every answer in one form: ISO-8601 in UTC with six fraction
digits and an explicit ``+00:00`` (``2026-11-28T09:30:00.000000+00:00``).

That is the form the sync protocol has sent from the start (a pull page's rows are
printed by the database in it, and a page's checksum covers them), so phones already
read it. Answers went out in three forms before: ninja's encoder wrote UTC with ``Z``
and milliseconds, a deadline computed in local time kept ``+08:00``, and
``isoformat`` drops the fraction of a whole second. Everything that prints a
timestamp for an answer, the websocket or stored JSON goes through ``wire_time``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from ninja.responses import NinjaJSONEncoder


def wire_time(moment: datetime) -> str:
    if timezone.is_naive(moment):  # USE_TZ is on: a naive value is in the current time zone
        moment = timezone.make_aware(moment)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def wire_default(value):
    """orjson's ``default`` for answers written directly (with ``OPT_PASSTHROUGH_DATETIME``)."""
    if isinstance(value, datetime):
        return wire_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class WireJSONEncoder(NinjaJSONEncoder):
    """The API renderer's encoder: datetimes by ``wire_time``, the rest as ninja does."""

    def default(self, o):
        if isinstance(o, datetime):
            return wire_time(o)
        return super().default(o)
