"""The steady load of the drill: phones (the reference client, ``sync.client.Phone``)
reporting with photos, signing, commenting, editing, pushing and pulling; a
dispatcher accepting their reports and dispatching them back with a short deadline
(so the supervision job has work: overdue marks and urges); and open websockets that
count every notification they receive. Every request is logged with its time and
whether it failed, for the error rate during each fault."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sync.client import HttpTransport, Phone, SyncError, TransportError


@dataclass
class RequestLog:
    """(monotonic time, failed) of every request the load made, and each failure's kind
    (its status, or "no answer"); thread-safe."""

    entries: list[tuple[float, bool]] = field(default_factory=list)
    kinds: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, failed: bool, status: int | None = 0) -> None:
        with self.lock:
            now = time.monotonic()
            self.entries.append((now, failed))
            if failed:
                self.kinds.append((now, "no answer" if status is None else str(status)))

    def failure_kinds(self, start: float, end: float) -> str:
        """e.g. "500 ×12, no answer ×3": what the failures between two times were."""
        with self.lock:
            counts = Counter(kind for at, kind in self.kinds if start <= at < end)
        return ", ".join(f"{kind} ×{count}" for kind, count in counts.most_common())

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(requests, failed) between two monotonic times."""
        with self.lock:
            inside = [failed for at, failed in self.entries if start <= at < end]
        return len(inside), sum(inside)

    def failing_for(self, start: float, end: float) -> float:
        """Seconds from ``start`` to the last failed request before ``end`` (0: none failed):
        how long clients saw errors after a fault, however often they retried."""
        with self.lock:
            failures = [at for at, failed in self.entries if failed and start <= at < end]
        return max(failures) - start if failures else 0.0


def failed_status(status: int | None) -> bool:
    """No answer, or an answer saying the server could not do it now."""
    return status is None or status >= 500 or status == 429


class LoggedTransport(HttpTransport):
    def __init__(self, base_url: str, log: RequestLog):
        super().__init__(base_url, timeout=15.0)
        self.log = log

    def exchange(self, path: str, data: bytes, token: str | None) -> tuple[int, bytes]:
        try:
            status, raw = super().exchange(path, data, token)
        except TransportError:
            self.log.add(True, None)
            raise
        self.log.add(failed_status(status), status)
        return status, raw


def api_request(
    base: str, method: str, path: str, *, token: str | None, body: bytes | None = None, content_type: str = ""
) -> tuple[int | None, dict]:
    headers = {"Accept-Language": "zh-hans"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(f"{base}/api/v1{path}", data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except (OSError, ValueError):
        return None, {}


def small_photo(seed: int) -> bytes:
    """A distinct little PNG (its own digest) standing for a phone's photo."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (64, 48), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image.putpixel((rng.randrange(64), rng.randrange(48)), (rng.randrange(256), 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def multipart(fields: dict[str, str], file_bytes: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Sent:
    """What one phone sent, to look for on the server afterwards."""

    reports: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    edits: list[tuple[str, str]] = field(default_factory=list)  # (event id, description)
    photos: dict[str, str] = field(default_factory=dict)  # photo id → sha256
    errors: list[str] = field(default_factory=list)


class PhoneLoad(threading.Thread):
    """One grid worker's phone in a loop: an action recorded offline, then a sync."""

    def __init__(
        self, *, base: str, username: str, password: str, store: str, log: RequestLog, seed: int, pause_s: float
    ):
        super().__init__(name=f"phone-{username}", daemon=True)
        self.base, self.username, self.password = base, username, password
        self.log = log
        self.rng = random.Random(seed)
        self.pause_s = pause_s
        self.phone = Phone(LoggedTransport(base, log), store, attempts=8, backoff_s=0.25, rng=self.rng)
        self.sent = Sent()
        self.stopping = threading.Event()
        self.user_id: int | None = None
        self.centre: tuple[float, float] = (0.0, 0.0)
        self.reported_to_server: list[str] = []  # answered reports, for the dispatcher

    def start_session(self) -> None:
        self.phone.login(self.username, self.password)
        status, me = api_request(self.base, "GET", "/me", token=self.phone.meta("access_token"))
        if status != 200:
            raise RuntimeError(f"GET /me for {self.username}: {status}")
        self.user_id = me["id"]
        self.phone.pull()
        grid = next(iter(self.phone.entities("grid").values()))
        ring = grid["polygon"]["coordinates"][0][:-1]
        self.centre = (sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring))

    def upload_photo(self) -> str | None:
        """A photo taken before the report, uploaded first; retried like the app would."""
        photo_id = str(uuid.uuid4())
        data = small_photo(self.rng.randrange(2**32))
        digest = hashlib.sha256(data).hexdigest()
        body, content_type = multipart({"phase": "before", "photo_id": photo_id, "sha256": digest}, data)
        for attempt in range(8):
            status, answer = api_request(
                self.base,
                "POST",
                "/photos",
                token=self.phone.meta("access_token"),
                body=body,
                content_type=content_type,
            )
            self.log.add(failed_status(status), status)
            if status in (200, 201):
                self.sent.photos[photo_id] = digest
                return digest
            if status == 401:
                self.phone._refresh()
            elif not failed_status(status):
                self.sent.errors.append(f"photo upload refused: {status} {answer.get('code')}")
                return None
            time.sleep(0.25 * 2**attempt)
        self.sent.photos[photo_id] = digest  # may have arrived with its answer lost: looked for all the same
        return None

    def act(self) -> None:
        tag = uuid.uuid4().hex[:10]
        mine = [e for e in self.phone.entities("event").values() if e.get("reporter_id") in (None, self.user_id)]
        dispatched = [e for e in mine if e.get("state") == "dispatched"]
        roll = self.rng.random()
        if roll < 0.4 or not mine:
            refs = []
            if self.rng.random() < 0.5 and (digest := self.upload_photo()):
                refs = [f"sha256:{digest}"]
            lat, lng = self.centre
            event_id = self.phone.report(
                category="06.01",
                description=f"故障演练上报 {tag}",
                lat=lat + self.rng.uniform(-1e-4, 1e-4),
                lng=lng + self.rng.uniform(-1e-4, 1e-4),
                before_photos=refs,
            )
            self.sent.reports.append(event_id)
        elif roll < 0.55 and dispatched:
            note = f"签收 {tag}"
            self.phone.step("sign", self.rng.choice(dispatched)["id"], note=note)
            self.sent.notes.append(note)
        elif roll < 0.8:
            note = f"补充说明 {tag}"
            self.phone.step("comment", self.rng.choice(mine)["id"], note=note)
            self.sent.notes.append(note)
        else:
            target = self.rng.choice(mine)["id"]
            value = f"故障演练修改 {tag}"
            self.phone.edit(target, description=value)
            self.sent.edits.append((target, value))

    def sync_once(self) -> bool:
        try:
            outcome = self.phone.sync()
        except TransportError:
            return False  # the queue stays; the next cycle sends it again
        except SyncError as error:
            self.sent.errors.append(str(error))
            return False
        del outcome
        done = self.phone.results()
        self.reported_to_server = [e for e in self.sent.reports if e in self.phone.entities("event")]
        del done
        return True

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.act()
            except (TransportError, SyncError) as error:  # a photo upload's refresh failed
                self.sent.errors.append(f"act: {error}")
            self.sync_once()
            self.stopping.wait(self.pause_s * (0.5 + self.rng.random()))

    def finish(self, seconds: float = 60) -> bool:
        """Back online for good: sync until nothing is pending."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.sync_once() and not self.phone.pending():
                return True
            time.sleep(0.5)
        return False


class DispatcherLoad(threading.Thread):
    """The street's dispatcher: accepts each phone's reports and dispatches them back
    to the grid worker who reported them, with a deadline seconds away."""

    def __init__(self, *, base: str, password: str, phones: list[PhoneLoad], log: RequestLog, deadline_s: float):
        super().__init__(name="dispatcher", daemon=True)
        self.base, self.password, self.phones, self.log = base, password, phones, log
        self.deadline_s = deadline_s
        self.token = ""
        self.handled: set[str] = set()
        self.dispatched: list[str] = []
        self.stopping = threading.Event()

    def login(self) -> None:
        body = json.dumps(
            {"username": "demo_dispatcher", "password": self.password, "device_id": "faults-dispatcher"}
        ).encode()
        for _ in range(30):
            status, answer = api_request(
                self.base, "POST", "/auth/login", token=None, body=body, content_type="application/json"
            )
            self.log.add(failed_status(status), status)
            if status == 200:
                self.token = answer["access_token"]
                return
            time.sleep(1)
        raise RuntimeError("the dispatcher cannot log in")

    def post(self, path: str, payload: dict) -> int | None:
        status, _ = api_request(
            self.base,
            "POST",
            path,
            token=self.token,
            body=json.dumps(payload).encode(),
            content_type="application/json",
        )
        self.log.add(failed_status(status), status)
        if status == 401:
            self.login()
        return status

    def run(self) -> None:
        while not self.stopping.is_set():
            for phone in self.phones:
                for event_id in list(phone.reported_to_server):
                    if event_id in self.handled or self.stopping.is_set():
                        continue
                    # accept then dispatch; 409 means a retried step was already taken
                    if self.post(f"/events/{event_id}/accept", {}) not in (200, 409):
                        continue
                    deadline = datetime.now(UTC) + timedelta(seconds=self.deadline_s)
                    status = self.post(
                        f"/events/{event_id}/dispatch",
                        {"grid_worker_id": phone.user_id, "deadline_at": deadline.isoformat()},
                    )
                    if status in (200, 409):
                        self.handled.add(event_id)
                        if status == 200:
                            self.dispatched.append(event_id)
            self.stopping.wait(0.5)


@dataclass
class SocketState:
    username: str
    received: set[int] = field(default_factory=set)
    duplicates_on_one_connection: int = 0
    connections: int = 0
    drops: list[float] = field(default_factory=list)

    def after(self) -> int:
        """The highest seq below which nothing is missing: what the client sends as ?after=
        (a gap left by a lost live message is then replayed, not skipped)."""
        seq = 0
        while seq + 1 in self.received:
            seq += 1
        return seq


class SocketLoad(threading.Thread):
    """Open websockets, one per account, reconnecting with ``?after=`` when dropped."""

    def __init__(self, *, http_base: str, ws_base: str, usernames: list[str], password: str, start_after: dict):
        super().__init__(name="sockets", daemon=True)
        self.http_base, self.ws_base, self.password = http_base, ws_base, password
        self.states = {name: SocketState(name) for name in usernames}
        for name, seq in start_after.items():
            self.states[name].received.update(range(1, seq + 1))
        self.stopping = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def token_for(self, username: str) -> str | None:
        body = json.dumps({"username": username, "password": self.password, "device_id": f"faults-ws-{username}"})
        status, answer = api_request(
            self.http_base, "POST", "/auth/login", token=None, body=body.encode(), content_type="application/json"
        )
        return answer.get("access_token") if status == 200 else None

    def fetch_missed(self, state: SocketState, token: str) -> None:
        """After a ``resync`` message: the missed ones over HTTP, as the protocol says."""
        after = state.after()
        while True:
            status, page = api_request(self.http_base, "GET", f"/notifications?after={after}&limit=200", token=token)
            if status != 200:
                return
            state.received.update(item["seq"] for item in page["items"])
            if not page["has_more"]:
                return
            after = page["next_after"]

    async def keep_open(self, state: SocketState) -> None:
        from websockets.asyncio.client import connect

        token = None
        while not self.stopping.is_set():
            opened = False
            if token is None:
                token = await asyncio.to_thread(self.token_for, state.username)
                if token is None:
                    await asyncio.sleep(1)
                    continue
            try:
                async with connect(
                    f"{self.ws_base}/ws/v1/?after={state.after()}",
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=10,
                ) as socket:
                    state.connections += 1
                    opened = True
                    seen: set[int] = set()
                    async for raw in socket:
                        message = json.loads(raw)
                        if message["type"] == "notification":
                            if message["seq"] in seen:
                                state.duplicates_on_one_connection += 1
                            seen.add(message["seq"])
                            state.received.add(message["seq"])
                            await socket.send(json.dumps({"type": "ack", "seq": message["seq"]}))
                        elif message["type"] == "resync":
                            await asyncio.to_thread(self.fetch_missed, state, token)
                    if socket.close_code in (4001, 4002, 4003, 4004):
                        token = None
            except Exception:  # noqa: BLE001 - any failure of the connection: reconnect
                pass
            if not self.stopping.is_set():
                if opened:  # an open connection lost (not a reconnect refused while the server is down)
                    state.drops.append(time.monotonic())
                await asyncio.sleep(0.5)

    async def main(self) -> None:
        tasks = [asyncio.create_task(self.keep_open(state)) for state in self.states.values()]
        while not self.stopping.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> None:
        asyncio.run(self.main())

    def replay(self, expected_latest: dict[str, int], seconds: float = 30) -> None:
        """The check's last step: every account reconnects once more with ``?after=`` and
        takes the replay; stops when each has what the server holds or time is up."""

        async def one(state: SocketState) -> None:
            from websockets.asyncio.client import connect

            token = await asyncio.to_thread(self.token_for, state.username)
            if token is None:
                return
            latest = expected_latest.get(state.username, 0)
            try:
                async with connect(
                    f"{self.ws_base}/ws/v1/?after={state.after()}",
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=10,
                ) as socket:
                    while state.after() < latest:
                        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=seconds))
                        if message["type"] == "notification":
                            state.received.add(message["seq"])
                        elif message["type"] == "resync":
                            await asyncio.to_thread(self.fetch_missed, state, token)
            except Exception:  # noqa: BLE001 - what did not arrive shows as missing
                pass

        async def everyone() -> None:
            await asyncio.gather(*(one(state) for state in self.states.values()))

        asyncio.run(everyone())
