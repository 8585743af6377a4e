"""The console's server side: the pages are shells, `/` leads to the console or the API
docs, and its two reads go through the same permission functions as the phones' API.
The pages themselves are tested in chromium by `make e2e` (e2e/)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.test import Client

from backend.events.models import EventAction
from backend.territory.selectors import grids_visible_to
from conftest import PERSONAS
from tests import matrix_registry
from tests.events_helpers import report, step

matrix_registry.cover("/api/v1/console/map", "/api/v1/console/events/{event_id}/chain")

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_root_leads_to_the_console_and_the_api_docs():
    page = Client().get("/").content.decode()
    assert 'href="/console/"' in page and 'href="/api/v1/docs"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/console/", "/console/login", "/console/desk", "/console/triage"])
def test_every_page_is_a_shell_that_loads_the_one_script(path):
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<script src="/static/console/console\.js">', html)
    # Nothing from outside: no absolute URLs to other hosts in the page or its assets.
    assets = html + (ROOT / "backend/console/static/console/console.js").read_text()
    assets += (ROOT / "backend/console/static/console/console.css").read_text()
    assert not re.search(r"(src|href)=\"https?://", assets) and "cdn" not in assets.lower()


@pytest.mark.django_db
def test_event_page_carries_its_id():
    event_id = "0d6df2d8-c7c4-49f5-8469-582bccf76bf0"
    assert f'data-event-id="{event_id}"' in Client().get(f"/console/events/{event_id}").content.decode()


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_map_is_the_grids_in_scope_with_their_polygons(as_persona, persona_user, persona):
    answer = as_persona(persona).get("/console/map")
    assert answer.status_code == 200
    grids = answer.json()["grids"]
    expected = list(grids_visible_to(persona_user(persona)).values_list("id", flat=True))
    assert [g["id"] for g in grids] == expected
    assert bool(expected) == (persona != "demo_resident")
    assert all(g["polygon"]["type"] == "Polygon" for g in grids)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_chain_is_answered_to_whoever_sees_the_event(as_persona, persona):
    event = report(as_persona("demo_grid_worker"), category="01.01", source="grid_patrol", before_photos=[]).json()
    client = as_persona(persona)
    sees = client.get(f"/events/{event['id']}").status_code == 200
    assert sees == (
        persona in ("demo_grid_worker", "demo_secretary", "demo_dispatcher", "demo_commander", "demo_admin")
    )
    chain = client.get(f"/console/events/{event['id']}/chain")
    assert chain.status_code == (200 if sees else 404)
    if sees:
        assert chain.json() == {"length": 1, "verified": True, "problems": []}


def test_the_console_reads_refuse_anonymous_callers(anonymous):
    assert anonymous.get("/console/map").status_code == 401
    assert anonymous.get(f"/console/events/{uuid.uuid4()}/chain").status_code == 401


def test_the_chain_check_finds_a_changed_row(as_persona):
    worker, dispatcher = as_persona("demo_grid_worker"), as_persona("demo_dispatcher")
    event = report(worker, category="01.01", source="grid_patrol", before_photos=[]).json()
    assert step(dispatcher, event["id"], "accept").status_code == 200
    chain = dispatcher.get(f"/console/events/{event['id']}/chain").json()
    assert chain == {"length": 2, "verified": True, "problems": []}
    EventAction.objects.filter(event_id=event["id"], seq=1).update(note="changed afterwards")
    chain = dispatcher.get(f"/console/events/{event['id']}/chain").json()
    assert chain["verified"] is False and chain["problems"] == ["#1: content does not match its hash"]


def test_the_screenshots_the_docs_show_exist():
    text = (ROOT / "docs/console.md").read_text()
    shots = re.findall(r"\((screenshots/[\w-]+\.png)\)", text)
    assert {"screenshots/command-room.png", "screenshots/event-page.png", "screenshots/approval-desk.png"} <= set(shots)
    for shot in shots:
        assert (ROOT / "docs" / shot).stat().st_size > 10_000


def test_make_e2e_is_wired_into_ci():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^e2e: ", makefile, re.M) and "pytest e2e" in makefile and "apt-get install" in makefile
    assert "make e2e" in (ROOT / ".ci/run").read_text()
