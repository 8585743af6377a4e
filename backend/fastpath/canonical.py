"""JSON printed exactly as Python's ``json`` module prints it, with orjson's speed.

A pull page's checksum is a hash over canonical JSON, which a phone recomputes
with its own ``json`` (docs/sync.md, "Applying a page"): it must stay
byte-identical to the ``json`` definition. orjson prints the same bytes for the
same values except floats in exponent form (below 1e-4 or from 1e16), which are
handed to it already printed (``safe_float``).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import orjson


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal, date)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(value) -> str:
    """Sorted keys, no spaces, UTF-8 (``json.dumps(value, ensure_ascii=False,
    sort_keys=True, separators=(",", ":"))``): what a page's checksum covers."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def canonical_bytes(value) -> bytes:
    """``canonical_json`` for values made by this module, printed by orjson (much faster).
    orjson and ``json`` print everything alike except floats in exponent form, which
    ``safe_float`` has already printed."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_json_default)


def safe_float(value: float | None):
    if value is None or value == 0 or 1e-4 <= abs(value) < 1e16:
        return value
    return orjson.Fragment(json.dumps(value))


def _safe_floats(value):
    if isinstance(value, float):
        return safe_float(value)
    if isinstance(value, list):
        return [_safe_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _safe_floats(item) for key, item in value.items()}
    return value


# A number json would print in exponent form, as stored: "1e-05" (SQLite keeps
# Python's text), "0.00001" or 17+ digits (PostgreSQL's jsonb normalises). Inside an
# array or object a number follows "[", "," or a key's closing quote and colon, and is
# followed by "]", "}" or ","; a photo digest ("sha256:1e…") has neither a quote before
# its colon nor one of "]}," after its digits, so it matches neither pattern. Most texts
# hold no number at all (a page's photo lists): the cheap first pattern says so.
_NUMBER = re.compile(r'(?:[\[,]|"\s*:)\s*-?\d')
_RISKY_NUMBER = re.compile(r'(?:[\[,]|"\s*:)\s*-?(?:\d+(?:\.\d+)?[eE][+-]?\d+|0\.0000\d*|\d{17,}(?:\.\d+)?)\s*[\]},]')


def load_json(text):
    if text is None or not isinstance(text, (str, bytes)):
        return text
    value = orjson.loads(text)
    if not isinstance(value, (dict, list)):
        return safe_float(value) if isinstance(value, float) else value
    return _safe_floats(value) if _NUMBER.search(text) and _RISKY_NUMBER.search(text) else value


def load_json_of_strings(text):
    """``load_json`` for JSON whose schema holds no numbers (lists of photo digests):
    nothing to look for, so nothing is scanned."""
    if text is None or not isinstance(text, (str, bytes)):
        return text
    return orjson.loads(text)
