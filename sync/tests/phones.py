"""Phones for tests: the reference client (``sync.client.Phone``) over Django's test
client, and a transport that misbehaves like a mobile network."""

from __future__ import annotations

import json
import random

from django.test import Client

from conftest import PASSWORD
from sync.client import Phone, TransportError
from sync.schemas import PullOut, PushOut

ANSWERS = {"/sync/push": PushOut, "/sync/pull": PullOut}


class DjangoTransport:
    def __init__(self):
        self.client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.requests = 0

    def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]:
        self.requests += 1
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.post(
            f"/api/v1{path}", json.dumps(body), content_type="application/json", headers=headers
        )
        answer = response.json()
        if response.status_code == 200 and path in ANSWERS:  # the routes write these bodies themselves
            ANSWERS[path].model_validate(answer)
        return response.status_code, answer


class FlakyTransport(DjangoTransport):
    """Drops requests before the server sees them, loses answers after the server
    committed, sends requests twice, and replays an earlier push later."""

    def __init__(
        self,
        rng: random.Random,
        *,
        drop: float = 0.15,
        lose: float = 0.15,
        duplicate: float = 0.15,
        replay: float = 0.1,
    ):
        super().__init__()
        self.rng = rng
        self.drop, self.lose, self.duplicate, self.replay = drop, lose, duplicate, replay
        self.sent_pushes: list[tuple[dict, str]] = []
        self.replayed = self.lost = 0

    def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]:
        roll = self.rng.random
        if path == "/sync/push" and self.sent_pushes and roll() < self.replay:
            old_body, old_token = self.rng.choice(self.sent_pushes)
            super().post(path, old_body, token)  # a stale request arriving late, out of order
            self.replayed += 1
        if roll() < self.drop:
            raise TransportError("dropped before reaching the server")
        if roll() < self.duplicate:
            super().post(path, body, token)
        status, answer = super().post(path, body, token)
        if path == "/sync/push":
            self.sent_pushes.append((body, token))
        if roll() < self.lose:
            self.lost += 1
            raise TransportError("answer lost after the server committed")
        return status, answer


def phone_of(username: str, transport: DjangoTransport | None = None) -> Phone:
    phone = Phone(transport or DjangoTransport(), sleep=lambda seconds: None, attempts=40)
    phone.login(username, PASSWORD)
    return phone


def server_state(username: str) -> dict[tuple[str, str], dict]:
    """What the user's scope holds now, read straight from the tables (not from the
    change log), in the shape a pull sends."""
    from backend.accounts.models import User
    from backend.accounts.scope import scope_of
    from backend.fastpath.canonical import canonical_bytes
    from backend.fastpath.rows import read_rows
    from sync.entities import KINDS, public_rows

    scope = scope_of(User.objects.get(username=username))
    state = {}
    for kind in KINDS.values():
        for row in public_rows(kind, scope, read_rows(kind, kind.model.objects.filter(kind.visible(scope)))):
            state[(kind.name, str(row["id"]))] = json.loads(canonical_bytes(row))
    return state
