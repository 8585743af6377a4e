import json
from pathlib import Path

from backend.api import api

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_the_committed_openapi_document_matches_the_code():
    generated = json.loads(json.dumps(api.get_openapi_schema(), default=str))
    committed = json.loads(COMMITTED.read_text())
    assert generated == committed, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_the_document_is_served(db):
    from django.test import Client

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "基层治理四平台 API"
