"""Coordinate systems. Phones in China often report GCJ-02 (map SDKs) rather than
WGS-84 (raw GPS); every location input says which, and storage is WGS-84.

prcoords implements the published GCJ-02 algorithm and its precise iterative
inverse (``gcj_wgs_bored``, error below 1e-9 degrees)."""

from __future__ import annotations

import warnings
from enum import StrEnum

import prcoords


class Crs(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"


def to_wgs84(*, lat: float, lng: float, crs: Crs | str) -> tuple[float, float]:
    """(lat, lng) in WGS-84. Outside China GCJ-02 equals WGS-84."""
    if Crs(crs) == Crs.WGS84 or not prcoords.sanity_in_china_p(prcoords.Coords(lat, lng)):
        return lat, lng
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "non-Chinese coords returned as-is" is the defined behaviour
        point = prcoords.gcj_wgs_bored((lat, lng))
    return point.lat, point.lon


def to_gcj02(*, lat: float, lng: float) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point = prcoords.wgs_gcj((lat, lng))
    return point.lat, point.lon
