"""Backup and restore: the database (``pg_dump`` custom format, or SQLite's online
backup) and the photo store (the files under ``MEDIA_ROOT``), with a manifest of every
table's row count and every file's SHA-256, so a restore can prove it is whole.

A backup is a directory ``<to>/<UTC time>/``: ``database.dump`` or ``database.sqlite3``,
``media.tar.gz``, ``manifest.json``. A restore goes only into an empty database (a fresh
one made for it), never over a live one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connections

MANIFEST = "manifest.json"
MEDIA_ARCHIVE = "media.tar.gz"
FORMAT_VERSION = 1


class BackupError(Exception):
    pass


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pg_env(database: dict) -> dict[str, str]:
    env = dict(os.environ)
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if database.get(key):
            env[variable] = str(database[key])
    return env


def _is_sqlite(database: dict) -> bool:
    return database["ENGINE"].endswith("sqlite3")


def table_counts_sqlite(path_or_connection) -> dict[str, int]:
    own = isinstance(path_or_connection, str | Path)
    conn = sqlite3.connect(str(path_or_connection)) if own else path_or_connection
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
    finally:
        if own:
            conn.close()


def table_counts_postgres(database: dict) -> dict[str, int]:
    import psycopg

    with psycopg.connect(dbname=database["NAME"], **_pg_kwargs(database)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def _pg_kwargs(database: dict) -> dict:
    return {key.lower(): database[key] for key in ("HOST", "PORT", "USER", "PASSWORD") if database.get(key)}


def _dump_postgres(database: dict, dump: Path) -> dict[str, int]:
    """pg_dump and the row counts from one snapshot (exported by a repeatable-read
    transaction held open while pg_dump runs), so the manifest describes the dump
    exactly even while phones keep writing."""
    import psycopg

    with psycopg.connect(dbname=database["NAME"], **_pg_kwargs(database)) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        counts = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
        done = subprocess.run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={dump}",
                database["NAME"],
            ],
            env=_pg_env(database),
            capture_output=True,
            text=True,
        )
        conn.execute("COMMIT")
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[:500]}")
    return counts


def _media_files(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {str(path.relative_to(root)): file_digest(path) for path in sorted(root.rglob("*")) if path.is_file()}


@dataclass
class BackupResult:
    directory: Path
    tables: int
    rows: int
    media_files: int


def backup_create(*, to: Path, alias: str = "default", media_root: Path | None = None) -> BackupResult:
    """Writes one backup under ``to``. The database is dumped as one consistent
    snapshot; the photo files are content-addressed and never rewritten, so files
    added while the backup runs are at worst extra."""
    database = connections[alias].settings_dict
    media_root = Path(media_root or settings.MEDIA_ROOT)
    directory = Path(to) / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    directory.mkdir(parents=True)
    files: dict[str, str] = {}
    if _is_sqlite(database):
        # The database's image through Django's own connection (what it sees, committed
        # or being written by it): SQLite is the one-machine layout, its size fits in memory.
        connection = connections[alias]
        connection.ensure_connection()
        image = connection.connection.serialize()
        (directory / "database.sqlite3").write_bytes(image)
        with sqlite3.connect(str(directory / "database.sqlite3")) as copy:
            copy.execute("PRAGMA journal_mode = DELETE")  # a self-contained file, no -wal beside it
        counts = table_counts_sqlite(directory / "database.sqlite3")
        files["database.sqlite3"] = file_digest(directory / "database.sqlite3")
        engine = "sqlite"
    else:
        dump = directory / "database.dump"
        counts = _dump_postgres(database, dump)
        files["database.dump"] = file_digest(dump)
        engine = "postgresql"
    media = _media_files(media_root)
    storage = "s3" if getattr(settings, "CONFIG", None) and settings.CONFIG.s3_bucket else "files"
    with tarfile.open(directory / MEDIA_ARCHIVE, "w:gz") as archive:
        if media_root.is_dir():
            for name in media:
                archive.add(media_root / name, arcname=name)
    files[MEDIA_ARCHIVE] = file_digest(directory / MEDIA_ARCHIVE)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "engine": engine,
        "tables": counts,
        "media_storage": storage,
        "media": media,
        "files": files,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return BackupResult(directory, len(counts), sum(counts.values()), len(media))


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory}: no {MANIFEST} (not a backup made by `make backup`)")
    manifest = json.loads(path.read_text())
    for name, digest in manifest["files"].items():
        if file_digest(Path(directory) / name) != digest:
            raise BackupError(f"{name}: its SHA-256 differs from the manifest (damaged or changed)")
    return manifest


@dataclass
class RestoreResult:
    tables: int
    rows: int
    media_files: int
    mismatches: list[str]


def _target_is_empty(database: dict) -> bool:
    if _is_sqlite(database):
        name = str(database["NAME"])
        if name.startswith("file:") or name == ":memory:":
            raise BackupError(f"database {name}: in memory, not empty; restore into a database file")
        path = Path(name)
        return not path.exists() or not table_counts_sqlite(path)
    return not table_counts_postgres(database)


def backup_restore(*, directory: Path, database: dict, media_root: Path) -> RestoreResult:
    """Restores into ``database`` (which must be empty) and ``media_root``, then compares
    every table's row count and every photo file's digest with the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if not _target_is_empty(database):
        raise BackupError(f"database {database['NAME']}: not empty; restore into a fresh database")
    if manifest["engine"] == "sqlite":
        if not _is_sqlite(database):
            raise BackupError("a SQLite backup restores into a SQLite database")
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / "database.sqlite3", database["NAME"])
        counts = table_counts_sqlite(database["NAME"])
    else:
        if _is_sqlite(database):
            raise BackupError("a PostgreSQL backup restores into a PostgreSQL database")
        done = subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={database['NAME']}",
                str(directory / "database.dump"),
            ],
            env=_pg_env(database),
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()[:500]}")
        counts = table_counts_postgres(database)
    media_root = Path(media_root)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(directory / MEDIA_ARCHIVE, "r:gz") as archive:
        archive.extractall(media_root, filter="data")
    restored_media = _media_files(media_root)
    mismatches = [
        f"table {table}: {count} rows in the backup, {counts.get(table)} restored"
        for table, count in manifest["tables"].items()
        if counts.get(table) != count
    ]
    mismatches += [
        f"photo file {name}: missing or different after restore"
        for name, digest in manifest["media"].items()
        if restored_media.get(name) != digest
    ]
    return RestoreResult(len(counts), sum(counts.values()), len(manifest["media"]), mismatches)
