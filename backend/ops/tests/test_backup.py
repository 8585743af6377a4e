"""The backup and restore drill: back up the test database and a photo store, restore
into a fresh database and an empty directory, compare. On SQLite in the first CI pass,
on PostgreSQL (pg_dump / pg_restore into a database made for it) in the second."""

from __future__ import annotations

import json
import subprocess
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backend.events.models import Event
from backend.ops.backup import BackupError, backup_create, backup_restore, read_manifest


@pytest.fixture
def photo_store(tmp_path, settings) -> Path:
    root = tmp_path / "media"
    (root / "photos" / "ab").mkdir(parents=True)
    (root / "photos" / "ab" / "original.jpg").write_bytes(b"\xff\xd8 not really a photo \xff\xd9")
    (root / "thumb.webp").write_bytes(b"RIFF thumb")
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def fresh_database(tmp_path):
    """A database to restore into, empty, of the same engine as the tests'."""
    if connection.vendor == "sqlite":
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "restored.sqlite3")}
        return
    settings_dict = dict(connection.settings_dict)
    name = f"{settings_dict['NAME']}_restore"[:60]
    params = {k.lower(): settings_dict[k] for k in ("HOST", "PORT", "USER", "PASSWORD") if settings_dict.get(k)}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**settings_dict, "NAME": name}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_backs_up_and_restores_into_a_fresh_database_equal_to_the_original(
    db, photo_store, fresh_database, tmp_path
):
    out = StringIO()
    call_command("backup", to=str(tmp_path / "backups"), stdout=out)
    (directory,) = (tmp_path / "backups").iterdir()
    assert "backup written" in out.getvalue()
    manifest = read_manifest(directory)
    assert manifest["tables"]["events_event"] == Event.objects.count()
    assert manifest["tables"]["accounts_user"] > 0 and len(manifest["media"]) == 2

    restored_media = tmp_path / "restored-media"
    result = backup_restore(directory=directory, database=fresh_database, media_root=restored_media)
    assert result.mismatches == []
    assert result.tables == len(manifest["tables"]) and result.rows == sum(manifest["tables"].values())
    assert (restored_media / "photos" / "ab" / "original.jpg").read_bytes() == (
        photo_store / "photos" / "ab" / "original.jpg"
    ).read_bytes()
    with pytest.raises(BackupError, match="not empty"):
        backup_restore(directory=directory, database=fresh_database, media_root=restored_media)


def test_it_refuses_to_restore_over_a_database_in_use_or_from_a_damaged_backup(db, photo_store, tmp_path):
    result = backup_create(to=tmp_path)
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(result.directory))
    assert not any(Path.cwd().glob("file:*"))
    manifest = json.loads((result.directory / "manifest.json").read_text())
    damaged = result.directory / "media.tar.gz"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(BackupError, match="media.tar.gz"):
        read_manifest(result.directory)
    assert manifest["engine"] == ("sqlite" if connection.vendor == "sqlite" else "postgresql")


def test_make_backup_and_restore_run_the_commands():
    root = Path(__file__).resolve().parents[3]
    dry = subprocess.run(["make", "-n", "backup", "restore", "FROM=x"], cwd=root, capture_output=True, text=True)
    assert "manage.py backup --to var/backups" in dry.stdout and "manage.py restore x" in dry.stdout
