"""Export of one event as an archive verified offline: hash chain and photo digests."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backend.events.history import action_hash
from backend.events.models import Event, EventAction
from backend.ops.archive import event_archive
from backend.ops.archive_verify import row_hash, verify_archive
from tests.events_helpers import GRID_A, report, step, upload_photo

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def exported(as_persona, tmp_path) -> tuple[Event, Path]:
    worker = as_persona("demo_grid_worker")
    event_id = report(worker, grid=GRID_A, source="grid_patrol").json()["id"]
    assert upload_photo(worker, event_id, phase="before").status_code == 201
    dispatcher = as_persona("demo_dispatcher")
    assert step(dispatcher, event_id, "accept").status_code == 200
    assert step(dispatcher, event_id, "comment", {"note": "已联系物业 the estate office was called"}).status_code == 200
    event = Event.objects.get(pk=event_id)
    path = tmp_path / "event.zip"
    out = StringIO()
    call_command("export_event", event.number, out=str(path), stdout=out)
    assert "sha256" in out.getvalue()
    return event, path


def rewrite(path: Path, name: str, change) -> None:
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    contents[name] = change(contents[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in contents.items():
            archive.writestr(n, data)


def test_an_exported_event_verifies_offline_with_python_alone(exported):
    event, path = exported
    with zipfile.ZipFile(path) as archive:
        history = json.loads(archive.read("history.json"))
        photos = json.loads(archive.read("photos.json"))
    assert [row["seq"] for row in history] == list(range(1, event.action_count + 1))
    assert len(photos) == 1 and photos[0]["phase"] == "before"
    assert verify_archive(str(path)) == []
    # The verifier needs no Django: run it as a stranger would, with -I (no site, no env).
    done = subprocess.run(
        [sys.executable, "-I", str(ROOT / "backend" / "ops" / "archive_verify.py"), str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "intact" in done.stdout
    helped = subprocess.run(
        [sys.executable, "-I", str(ROOT / "backend" / "ops" / "archive_verify.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0 and helped.stdout.startswith("usage:") and not helped.stderr


def test_a_changed_history_row_or_photo_is_found(exported, tmp_path):
    event, path = exported

    def edit_note(data: bytes) -> bytes:
        rows = json.loads(data)
        rows[-1]["note"] = "改过的 changed"
        return json.dumps(rows).encode()

    rewrite(path, "history.json", edit_note)
    problems = verify_archive(str(path))
    assert "history.json: does not match the manifest" in problems
    assert f"history #{event.action_count}: content does not match its hash" in problems

    fresh = tmp_path / "fresh.zip"
    fresh.write_bytes(event_archive(event))
    with zipfile.ZipFile(fresh) as archive:
        photo_name = next(n for n in archive.namelist() if n.startswith("photos/"))
    rewrite(fresh, photo_name, lambda data: data[:-1] + b"\x00")
    assert any(p.endswith("its bytes do not match its SHA-256") for p in verify_archive(str(fresh)))
    with pytest.raises(CommandError, match="not intact"):
        call_command("verify_event_archive", str(fresh))


def test_the_offline_row_hash_is_the_servers_hash(exported):
    # One rule, two places: the verifier restates content_hash without Django.
    event, path = exported
    with zipfile.ZipFile(path) as archive:
        rows = json.loads(archive.read("history.json"))
    stored = {row.seq: row for row in EventAction.objects.filter(event=event)}
    assert len(rows) >= 3
    for row in rows:
        assert row_hash(row) == action_hash(stored[row["seq"]]) == row["hash"]
