"""Monitored households, linked to the address library by the meter's address."""

from __future__ import annotations

from backend.addresses.models import AddressAlias, AliasSource
from backend.core.errors import ApiError, register
from backend.intake.models import Household, SourceSystem

register("meter_address_unknown", 422, "电力地址未能匹配标准地址", "The meter's address matches no standard address")


def household_register(
    *,
    source: SourceSystem,
    meter_no: str,
    kind: str,
    meter_address: str,
    baseline_kwh_day: float | None = None,
    subject=None,
) -> Household:
    """A meter linked through its address to a standard unit address (the address
    library's power alias, 一码多址) and so to its grid. Registering the same meter
    again updates it."""
    alias = (
        AddressAlias.objects.filter(source=AliasSource.POWER, text=meter_address.strip())
        .select_related("unit__building")
        .first()
    )
    if alias is None:
        raise ApiError("meter_address_unknown", detail={"meter_address": meter_address})
    household, _ = Household.objects.update_or_create(
        source=source,
        meter_no=meter_no,
        defaults={
            "kind": kind,
            "meter_address": meter_address.strip(),
            "unit": alias.unit,
            "grid_id": alias.unit.building.grid_id,
            "baseline_kwh_day": baseline_kwh_day,
            "subject": subject,
        },
    )
    return household
