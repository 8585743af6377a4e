"""The two formats of GeoReport v2: JSON, and XML with the spec's element names."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from django.http import HttpResponse

from backend.core.times import WireJSONEncoder


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(parent: ElementTree.Element, item_tag: str, value) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            child = ElementTree.SubElement(parent, key)
            if isinstance(inner, list):
                singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
                for element in inner:
                    _fill(ElementTree.SubElement(child, singular.get(key, "item")), item_tag, element)
            else:
                _fill(child, item_tag, inner)
    else:
        parent.text = _text(value)


def xml_document(root: str, item: str | None, data) -> bytes:
    """``data`` a list (each element an ``item``) or one object (the root's children)."""
    top = ElementTree.Element(root)
    if isinstance(data, list):
        for element in data:
            _fill(ElementTree.SubElement(top, item), item, element)
    else:
        _fill(top, item or root, data)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(top, encoding="unicode").encode()


def respond(fmt: str, data, *, root: str, item: str | None, status: int = 200) -> HttpResponse:
    if fmt == "xml":
        return HttpResponse(xml_document(root, item, data), status=status, content_type="text/xml; charset=utf-8")
    body = json.dumps(data, cls=WireJSONEncoder, ensure_ascii=False)
    return HttpResponse(body, status=status, content_type="application/json; charset=utf-8")


def error(fmt: str, status: int, description: str) -> HttpResponse:
    return respond(fmt, [{"code": status, "description": description}], root="errors", item="error", status=status)
