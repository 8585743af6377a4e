"""A reference phone: what a mobile client of the sync protocol does, in Python.

It keeps a local SQLite store (``entity``: what the server sent for this user's scope;
``outbox``: mutations recorded offline, in id order; ``meta``: tokens, cursor, ids),
and syncs in cycles: pull, push what is pending, pull again. Every request is retried
with exponential backoff when the network fails or the server is unavailable; a push
retried after a lost response is answered from the server's ledger, so retrying is
always safe. Tests and the ``sync`` benchmark drive it; from a shell::

    python -m sync.client --server http://127.0.0.1:8000 --store phone.db login demo_grid_worker demo-pass-2026
    python -m sync.client --store phone.db report --category 06.01 --description "楼道堆物" --lat 30.25 --lng 120.17
    python -m sync.client --store phone.db sync
    python -m sync.client --store phone.db status
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

PROTOCOL_VERSION = 2
PUSH_BATCH = 100
# The server refuses a JSON body over 2.5 MiB with 413 (docs/limits.md): a push is cut
# to stay under it, measured as ASCII-escaped JSON (the larger of the two encodings).
PUSH_MAX_BYTES = 2_400_000
PULL_PAGE = 500
RETRYABLE = {429, 500, 502, 503, 504}


class TransportError(Exception):
    """The request may or may not have reached the server; no answer came back."""


class SyncError(Exception):
    """The server refused the request for good (its error body is in ``body``)."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"{status} {body.get('code')}: {body.get('message')}")
        self.status = status
        self.body = body


class Transport(Protocol):
    def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]: ...


class HttpTransport:
    """JSON over HTTP to a running server (``make run``)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.timeout = timeout

    def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]:
        status, raw = self.exchange(path, json.dumps(body).encode(), token)
        try:
            return status, json.loads(raw or b"{}")
        except ValueError:
            return status, {}

    def exchange(self, path: str, data: bytes, token: str | None) -> tuple[int, bytes]:
        """One request and its whole answer, unparsed."""
        headers = {"Content-Type": "application/json", "Accept-Language": "zh-hans"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransportError(str(error)) from error


def canonical_checksum(changes: list[dict]) -> str:
    """What the server's page checksum must be (protocol 2): CRC-32 of the canonical JSON."""
    canonical = json.dumps(changes, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"crc32:{zlib.crc32(canonical.encode()):08x}"


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS entity (kind TEXT, id TEXT, data TEXT, seen INTEGER DEFAULT 1, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, base_version INTEGER,
    client_time TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', result TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def push_batch(pending: list[dict], *, count: int = PUSH_BATCH, max_bytes: int = PUSH_MAX_BYTES) -> list[dict]:
    """The first mutations of ``pending`` that fit in one push. A hundred patrol parts
    of 2,000 points are about 17 MB: sent whole, the push was refused, and resent, for
    ever. One mutation always goes (a single one is far below the limit)."""
    batch, size = [], 1024  # the envelope
    for mutation in pending[:count]:
        size += len(json.dumps(mutation)) + 2
        if batch and size > max_bytes:
            break
        batch.append(mutation)
    return batch


class Phone:
    """One phone of one user. ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        transport: Transport,
        store: str = ":memory:",
        *,
        device_id: str | None = None,
        attempts: int = 6,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], str] = _now,
        rng: random.Random | None = None,
    ):
        self.transport = transport
        self.db = sqlite3.connect(store, check_same_thread=False)  # one phone, whichever thread drives it
        self.db.executescript(SCHEMA)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        if self.meta("device_id") is None:
            self.set_meta("device_id", device_id or f"phone-{uuid.uuid4().hex[:16]}")

    # -- local store -------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str | None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def device_id(self) -> str:
        return self.meta("device_id")

    def entities(self, kind: str) -> dict[str, dict]:
        return {
            row[0]: json.loads(row[1]) for row in self.db.execute("SELECT id, data FROM entity WHERE kind = ?", (kind,))
        }

    def snapshot(self) -> dict[tuple[str, str], dict]:
        return {
            (kind, entity_id): json.loads(data)
            for kind, entity_id, data in self.db.execute("SELECT kind, id, data FROM entity")
        }

    def pending(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT id, name, args, base_version, client_time FROM outbox WHERE status = 'pending' ORDER BY id"
        )
        return [
            {"id": r[0], "name": r[1], "args": json.loads(r[2]), "base_version": r[3], "client_time": r[4]}
            for r in rows
        ]

    def results(self) -> dict[int, dict]:
        rows = self.db.execute("SELECT id, result FROM outbox WHERE status = 'done'")
        return {r[0]: json.loads(r[1]) for r in rows}

    # -- recording offline ---------------------------------------------------------
    def record(self, name: str, args: dict, *, base_version: int | None = None) -> int:
        """Queue a mutation; ids are this device's, increasing."""
        with self.db:
            last = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
            mutation_id = max(last, int(self.meta("last_mutation_id", "0"))) + 1
            self.db.execute(
                "INSERT INTO outbox (id, name, args, base_version, client_time) VALUES (?, ?, ?, ?, ?)",
                (mutation_id, name, json.dumps(args, ensure_ascii=False), base_version, self.clock()),
            )
        return mutation_id

    def report(
        self,
        *,
        category: str,
        description: str,
        lat: float | None = None,
        lng: float | None = None,
        crs: str = "wgs84",
        source: str = "grid_patrol",
        **extra,
    ) -> str:
        event_id = str(uuid.uuid4())
        self.record(
            "event.report",
            {
                "id": event_id,
                "source": source,
                "category": category,
                "description": description,
                "lat": lat,
                "lng": lng,
                "crs": crs,
                **extra,
            },
        )
        return event_id

    def step(self, name: str, event_id: str, **args) -> int:
        return self.record(f"event.{name}", {"event_id": event_id, **args})

    def edit(self, event_id: str, **fields) -> int:
        """Change editable fields; the base version is the event as this phone last saw it."""
        event = self.entities("event").get(event_id)
        return self.record(
            "event.edit",
            {"event_id": event_id, "fields": fields},
            base_version=event["version"] if event else None,
        )

    # -- talking to the server -----------------------------------------------------
    def call(self, path: str, body: dict, *, auth: bool = True) -> dict:
        """POST with retries: network failures and 429/5xx back off and try again (the
        same body: pushes are idempotent by mutation id); an expired access token is
        refreshed once. Any other refusal raises ``SyncError``."""
        refreshed = False
        for attempt in range(self.attempts):
            try:
                status, answer = self.transport.post(path, body, self.meta("access_token") if auth else None)
            except TransportError:
                status, answer = None, {}
            if status == 200:
                return answer
            if status == 401 and auth and not refreshed and answer.get("code") == "token_expired":
                self._refresh()
                refreshed = True
                continue
            if status is not None and status not in RETRYABLE:
                raise SyncError(status, answer)
            self.sleep(self.backoff_s * (2**attempt) * (0.5 + self.rng.random()))
        raise TransportError(f"{path}: no answer after {self.attempts} attempts")

    def login(self, username: str, password: str) -> dict:
        answer = self.call(
            "/auth/login",
            {
                "username": username,
                "password": password,
                "device_id": self.device_id,
                "platform": "android",
                "app_version": "reference-client",
            },
            auth=False,
        )
        self._keep_tokens(answer)
        self.set_meta("username", username)
        return answer

    def _refresh(self) -> None:
        answer = self.call(
            "/auth/refresh", {"refresh_token": self.meta("refresh_token"), "device_id": self.device_id}, auth=False
        )
        self._keep_tokens(answer)

    def _keep_tokens(self, answer: dict) -> None:
        self.set_meta("access_token", answer["access_token"])
        self.set_meta("refresh_token", answer["refresh_token"])

    def push(self) -> list[dict]:
        """Send everything pending, in id order, a batch at a time."""
        answered = []
        while pending := push_batch(self.pending()):
            body = {
                "device_id": self.device_id,
                "protocol_version": PROTOCOL_VERSION,
                "client_time": self.clock(),
                "mutations": [{k: v for k, v in m.items() if v is not None} for m in pending],
            }
            answer = self.call("/sync/push", body)
            with self.db:
                for result in answer["results"]:
                    self.db.execute(
                        "UPDATE outbox SET status = 'done', result = ? WHERE id = ?",
                        (json.dumps(result, ensure_ascii=False), result["id"]),
                    )
                self.db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_mutation_id', ?)",
                    (str(answer["last_mutation_id"]),),
                )
            answered.extend(answer["results"])
        return answered

    def pull(self, *, limit: int = PULL_PAGE) -> int:
        """Pull until nothing more; returns how many changes were applied. A reset
        starts a full resync; when it completes, whatever it did not send is gone."""
        applied = damaged = 0
        while True:
            cursor = self.meta("cursor")
            pending = self.pending()
            body = {
                "device_id": self.device_id,
                "protocol_version": PROTOCOL_VERSION,
                "cursor": cursor,
                "limit": limit,
                "pending_mutation_id": pending[-1]["id"] if pending else 0,
            }
            if cursor is None and self.meta("resync") != "1":
                with self.db:  # a full resync: mark everything, sweep what is not sent again
                    self.db.execute("UPDATE entity SET seen = 0")
                    self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('resync', '1')")
            page = self.call("/sync/pull", body)
            if page["reset"]:
                self.set_meta("cursor", None)
                continue
            if page["push_first"]:
                self.push()
                continue
            if canonical_checksum(page["changes"]) != page["checksum"]:
                damaged += 1  # ask for it again from the same cursor, a few times
                if damaged >= self.attempts:
                    raise SyncError(200, {"code": "checksum_mismatch", "message": f"page damaged {damaged} times"})
                continue
            damaged = 0
            with self.db:
                for change in page["changes"]:
                    if change["op"] == "upsert":
                        self.db.execute(
                            "INSERT OR REPLACE INTO entity (kind, id, data, seen) VALUES (?, ?, ?, 1)",
                            (change["kind"], change["id"], json.dumps(change["data"], ensure_ascii=False)),
                        )
                    else:
                        self.db.execute("DELETE FROM entity WHERE kind = ? AND id = ?", (change["kind"], change["id"]))
                for drop in page["drop"]:
                    self.db.execute("DELETE FROM entity WHERE kind = ? AND id = ?", (drop["kind"], drop["id"]))
                self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('cursor', ?)", (page["cursor"],))
                if not page["has_more"] and self.meta("resync") == "1":
                    self.db.execute("DELETE FROM entity WHERE seen = 0")
                    self.db.execute("DELETE FROM meta WHERE key = 'resync'")
            applied += len(page["changes"])
            if not page["has_more"]:
                return applied

    def sync(self) -> dict[str, Any]:
        """One cycle: pull (the store up to date: edits recorded from now on are based on
        fresh versions; edits already queued keep the base they were made on), push, pull
        (to see what the server made of them)."""
        pulled = self.pull()
        pushed = self.push()
        pulled += self.pull()
        return {
            "pulled": pulled,
            "pushed": len(pushed),
            "rejected": [r for r in pushed if r["status"] == "rejected"],
            "conflicts": [r for r in pushed if r["status"] == "conflict"],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sync.client", description="参考手机客户端 A reference phone for the sync protocol"
    )
    parser.add_argument("--server", help="e.g. http://127.0.0.1:8000 (remembered in the store)")
    parser.add_argument("--store", default="phone.db", help="the phone's local SQLite file (default phone.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help="log in and remember the tokens")
    login.add_argument("username")
    login.add_argument("password")
    report = commands.add_parser("report", help="record an event report offline")
    report.add_argument("--category", required=True)
    report.add_argument("--description", required=True)
    report.add_argument("--lat", type=float)
    report.add_argument("--lng", type=float)
    report.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02"])
    report.add_argument("--source", default="grid_patrol")
    step = commands.add_parser("step", help="record a workflow step offline, e.g. step sign <event id>")
    step.add_argument("name")
    step.add_argument("event_id")
    step.add_argument("--note", default="")
    step.add_argument("--reason")
    step.add_argument("--result-note")
    edit = commands.add_parser("edit", help="record a field edit offline, e.g. edit <event id> description=…")
    edit.add_argument("event_id")
    edit.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    commands.add_parser("sync", help="pull, push the queue, pull")
    commands.add_parser("status", help="what the store holds")
    events = commands.add_parser("events", help="list the events in the store")
    events.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)

    probe = sqlite3.connect(args.store)
    probe.executescript(SCHEMA)
    row = probe.execute("SELECT value FROM meta WHERE key = 'server'").fetchone()
    server = args.server or (row[0] if row else None)
    if server is None:
        parser.error("--server is needed the first time")
    phone = Phone(HttpTransport(server), args.store)
    phone.set_meta("server", server)
    try:
        if args.command == "login":
            phone.login(args.username, args.password)
            print(f"已登录 logged in as {args.username}, device {phone.device_id}")
        elif args.command == "report":
            event_id = phone.report(
                category=args.category,
                description=args.description,
                lat=args.lat,
                lng=args.lng,
                crs=args.crs,
                source=args.source,
            )
            print(f"已记录，待同步 queued event {event_id}")
        elif args.command == "step":
            extra = {"note": args.note}
            if args.reason:
                extra = {"reason": args.reason}
            if args.result_note:
                extra = {"result_note": args.result_note}
            print(f"已记录，待同步 queued mutation {phone.step(args.name, args.event_id, **extra)}")
        elif args.command == "edit":
            fields = dict(item.split("=", 1) for item in args.fields)
            print(f"已记录，待同步 queued mutation {phone.edit(args.event_id, **fields)}")
        elif args.command == "sync":
            outcome = phone.sync()
            print(json.dumps(outcome, ensure_ascii=False, indent=2))
        elif args.command == "status":
            counts = dict(phone.db.execute("SELECT kind, COUNT(*) FROM entity GROUP BY kind").fetchall())
            print(
                json.dumps(
                    {
                        "user": phone.meta("username"),
                        "device": phone.device_id,
                        "entities": counts,
                        "pending": len(phone.pending()),
                        "cursor": bool(phone.meta("cursor")),
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        elif args.command == "events":
            rows = sorted(phone.entities("event").values(), key=lambda e: e["reported_at"], reverse=True)[: args.limit]
            for event in rows:
                print(
                    f"{event['number']}  {event['state']:<12} v{event['version']:<3} {event['description'][:40]}  {event['id']}"
                )
    except SyncError as error:
        print(f"服务器拒绝 refused: {error}", file=sys.stderr)
        return 1
    except TransportError as error:
        print(f"网络不可用，稍后再试 no network: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
